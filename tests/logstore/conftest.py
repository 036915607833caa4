"""Fixtures for the log store's contract suite: every test of it runs on the
directory backend and on S3 (moto's server, started once per session on
loopback, a fresh bucket per test).

``open_store`` opens another store on the same directory or bucket (another
host, as far as the store can tell), with its own limits; ``store`` is the
first one. ``bucket`` and ``s3`` are for the S3 backend's own tests.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from tests.logstore.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer
from trunkgate.logstore import DirectoryLogStore, Limits, LogStore, S3LogStore, S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BACKENDS = ["directory", "s3"]

OpenStore = Callable[..., LogStore]

_buckets = itertools.count()


@pytest.fixture(autouse=True)
def _no_metadata_service(monkeypatch: pytest.MonkeyPatch) -> None:
    # The store passes its keys and never looks for others; should that
    # change, nothing here may still ask the cloud's metadata address.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(moto: MotoServer) -> Iterator[S3Client]:
    """A plain boto3 client of the server: the test's own hands on the bucket."""
    client = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )
    yield client
    client.close()


@pytest.fixture
def bucket(s3: S3Client) -> str:
    """A new, empty bucket."""
    name = f"logs-{next(_buckets)}"
    s3.create_bucket(Bucket=name)
    return name


def s3_settings(moto: MotoServer, bucket: str, **changes: str) -> S3Settings:
    values = {
        "bucket": bucket,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "endpoint_url": moto.endpoint,
        "prefix": "site",
    }
    return S3Settings(**(values | changes))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[OpenStore]:
    """Opens stores of `backend` on the test's one directory or bucket;
    closes them all afterwards."""
    opened: list[LogStore] = []
    root = tmp_path / "store"
    place = request.getfixturevalue("bucket") if backend == "s3" else ""

    def opener(limits: Limits | None = None) -> LogStore:
        store: LogStore
        if backend == "directory":
            store = DirectoryLogStore(root, limits=limits)
        else:
            moto: MotoServer = request.getfixturevalue("moto")
            store = S3LogStore(s3_settings(moto, place), limits=limits)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        await store.close()


@pytest.fixture
def store(open_store: OpenStore) -> LogStore:
    return open_store()
