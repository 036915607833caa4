"""Opening the log store a site's config names: its `logs` section, with the
S3 keys read from their files. Nothing here moves a log."""

from __future__ import annotations

from trunkgate.config.loader import Config
from trunkgate.config.secrets import read_secret

from .base import LogStore
from .directory import DirectoryLogStore
from .errors import LogStoreError
from .limits import Limits


def open_log_store(config: Config, *, limits: Limits | None = None) -> LogStore:
    """The site's log store; LogStoreError when its keys cannot be read."""
    logs = config.logs
    if logs.backend == "directory":
        # Where the site's components have always kept builds' directories.
        from trunkgate.site import LOGS_DIR

        return DirectoryLogStore(config.data_dir / LOGS_DIR, limits=limits)
    from .s3 import S3LogStore, S3Settings

    assert logs.bucket is not None, "the loader refuses backend s3 without a bucket"
    settings = S3Settings(
        bucket=logs.bucket,
        access_key=_read_key(config, "access-key-file", logs.access_key_file),
        secret_key=_read_key(config, "secret-key-file", logs.secret_key_file),
        prefix=logs.prefix,
        endpoint_url=logs.endpoint_url,
        region=logs.region,
    )
    return S3LogStore(settings, limits=limits)


def _read_key(config: Config, setting: str, file: str | None) -> str:
    assert file is not None, f"the loader refuses backend s3 without {setting}"
    path = config.resolve(file)
    try:
        return read_secret(path)
    except OSError as exc:
        raise LogStoreError(f"logs: {setting}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LogStoreError(f"logs: {setting}: {path} does not hold text") from None
