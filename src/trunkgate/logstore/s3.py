"""The S3 backend: builds' directories as objects of one bucket (AWS S3,
MinIO, Ceph), each file at `PREFIX/BUILD/JOB/NAME`, for sites whose
executors and web servers run on different hosts.

boto3 is blocking; the store calls it in a thread. The client is made from
the site's settings alone: keys, region and endpoint are given to it, and it
reads nothing of ~/.aws and no AWS_* variable that names a profile, a
config file or an endpoint, so it never signs with a key the site did not
name nor asks an instance's metadata service for one. Every botocore error
becomes a LogStoreError naming the bucket and the endpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import boto3.session
import botocore.session
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.loaders import Loader

from .base import LogStore, StoredObject
from .errors import Gone, LogStoreError
from .keys import key_prefix, object_key
from .limits import Limits, Tally, copy_at_most

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

#: Tries of one request, the first included; botocore's standard mode backs
#: off exponentially (with jitter) between them.
MAX_ATTEMPTS = 3
#: Seconds to wait for a connection, and then for each answer.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
#: The most keys one DeleteObjects request takes.
DELETE_BATCH = 1000
#: What answers that the keys were refused say.
_REFUSED_KEYS = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "403",
    }
)


@dataclass(frozen=True)
class S3Settings:
    """Where a site's logs are kept in S3, and the keys that sign for it.
    `endpoint_url` None is AWS's own endpoint for `region`."""

    bucket: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"


class S3LogStore(LogStore):
    """Builds' directories as objects of one S3 bucket."""

    def __init__(
        self,
        settings: S3Settings,
        *,
        limits: Limits | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        super().__init__(limits)
        self.settings = settings
        self._client = _client(settings, max_attempts, connect_timeout, read_timeout)

    @property
    def where(self) -> str:
        endpoint = self.settings.endpoint_url or f"AWS ({self.settings.region})"
        return f"S3 bucket '{self.settings.bucket}' at {endpoint}"

    async def close(self) -> None:
        self._client.close()

    def _failed(self, doing: str, exc: Exception) -> LogStoreError:
        return LogStoreError(f"{self.where}: cannot {doing}: {_why(exc)}")

    def _list(self, key: str, tally: Tally) -> list[StoredObject]:
        prefix = key_prefix(self.settings.prefix, key)
        found: list[StoredObject] = []
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=prefix
        )
        try:
            for page in pages:
                for listed in page.get("Contents", []):
                    name, size = listed["Key"][len(prefix) :], listed.get("Size", 0)
                    if name.endswith("/") and size == 0:
                        continue  # a "folder" some consoles make: no file
                    tally.add(size)
                    found.append(StoredObject(name, size))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(f"list {prefix}", exc) from None
        return found

    def _put(self, key: str, name: str, source: BinaryIO, size: int, kind: str) -> None:
        target = object_key(self.settings.prefix, key, name)
        try:
            self._client.put_object(
                Bucket=self.settings.bucket,
                Key=target,
                Body=source,
                ContentLength=size,
                ContentType=kind,
            )
        except (BotoCoreError, ClientError, Boto3Error, OSError) as exc:
            raise self._failed(f"upload {target}", exc) from None

    def _get(self, key: str, name: str, target: BinaryIO, size: int) -> None:
        source = object_key(self.settings.prefix, key, name)
        try:
            body = self._client.get_object(Bucket=self.settings.bucket, Key=source)["Body"]
            try:
                copy_at_most(body.read, target, size, f"{self.where}: {source}")
            finally:
                body.close()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise Gone(source) from None
            raise self._failed(f"download {source}", exc) from None
        except BotoCoreError as exc:
            raise self._failed(f"download {source}", exc) from None

    def _delete(self, key: str) -> None:
        prefix = key_prefix(self.settings.prefix, key)
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH}
        )
        try:
            for page in pages:
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": listed["Key"]} for listed in page.get("Contents", [])
                ]
                if not keys:
                    continue
                answer = self._client.delete_objects(
                    Bucket=self.settings.bucket, Delete={"Objects": keys, "Quiet": True}
                )
                errors = answer.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise LogStoreError(
                        f"{self.where}: cannot delete {first.get('Key', prefix)}: "
                        f"{first.get('Code', '')} {first.get('Message', '')}".rstrip()
                    )
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(f"delete {prefix}", exc) from None


def _client(
    settings: S3Settings, max_attempts: int, connect_timeout: float, read_timeout: float
) -> S3Client:
    core = botocore.session.Session()
    # The site's settings are the only ones: no config or credentials file,
    # no profile, and no endpoint from the environment (AWS_ENDPOINT_URL).
    store = core.get_component("config_store")
    for name, value in (
        ("config_file", os.devnull),
        ("credentials_file", os.devnull),
        ("profile", None),
        ("ignore_configured_endpoint_urls", True),
    ):
        store.set_config_variable(name, value)
    # botocore also looks for service models in ~/.aws/models.
    core.register_component(
        "data_loader",
        Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False),
    )
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # MinIO and Ceph answer at one host, the bucket in the path, not in
        # the host name.
        s3={"addressing_style": "path"} if settings.endpoint_url else {},
        # boto3 1.36 began sending checksums that S3-compatible stores
        # (older MinIO and Ceph) refuse; send them only where S3 demands.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session(botocore_session=core).client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=config,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _why(exc: Exception) -> str:
    """A botocore error in one line, without its traceback."""
    if isinstance(exc, ClientError):
        code = _code(exc)
        message = str(exc.response.get("Error", {}).get("Message", "")) or code
        if code == "NoSuchBucket":
            return "no such bucket"
        if code in _REFUSED_KEYS:
            return f"the keys were refused ({message})"
        return f"{message} ({code})" if message != code else code
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return "cannot connect to the endpoint"
    if isinstance(exc, ReadTimeoutError):
        return "the endpoint did not answer in time"
    return str(exc)
