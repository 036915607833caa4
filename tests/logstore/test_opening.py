"""Opening the log store a site's config names: today's directory under the
data directory by default, a bucket signed with the keys of its files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import load
from tests.logstore.motoserver import ACCESS_KEY, SECRET_KEY, MotoServer
from trunkgate.logstore import (
    DirectoryLogStore,
    LogStoreError,
    S3LogStore,
    S3Settings,
    open_log_store,
)
from trunkgate.site import LOGS_DIR

KEY = "change-12-3f2a9c1e/unit"


def test_by_default_builds_stay_in_the_data_directory(tmp_path: Path) -> None:
    config = load(tmp_path, "state:\n  data-dir: data\n")

    store = open_log_store(config)

    assert isinstance(store, DirectoryLogStore)
    assert store.root == tmp_path / "data" / LOGS_DIR


def write_keys(directory: Path) -> None:
    directory.mkdir()
    for name, key in (("access", ACCESS_KEY), ("secret", SECRET_KEY)):
        (directory / name).write_text(f"{key}\n")
        (directory / name).chmod(0o600)


def s3_section(endpoint: str, bucket: str) -> str:
    return f"""\
        logs:
          backend: s3
          bucket: {bucket}
          prefix: trunkgate/
          endpoint-url: {endpoint}
          region: eu-west-1
          access-key-file: keys/access
          secret-key-file: keys/secret
        """


async def test_an_s3_site_publishes_to_its_bucket_signed_with_its_key_files(
    moto: MotoServer, bucket: str, tmp_path: Path
) -> None:
    write_keys(tmp_path / "keys")
    config = load(tmp_path, s3_section(moto.endpoint, bucket))
    build = tmp_path / "build"
    build.mkdir()
    (build / "console.log").write_text("ran\n")

    store = open_log_store(config)
    await store.publish(build, KEY)

    assert isinstance(store, S3LogStore)
    assert store.settings == S3Settings(
        bucket=bucket,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        prefix="trunkgate",
        endpoint_url=moto.endpoint,
        region="eu-west-1",
    )
    assert "secret" not in repr(store.settings)
    assert await store.fetch(KEY, tmp_path / "dest")
    await store.close()


def test_a_key_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    write_keys(tmp_path / "keys")
    config = load(tmp_path, s3_section("http://127.0.0.1:9", "logs"))
    (tmp_path / "keys" / "secret").unlink()

    with pytest.raises(LogStoreError) as caught:
        open_log_store(config)

    assert str(caught.value) == (
        f"logs: secret-key-file: cannot read {tmp_path / 'keys' / 'secret'}: "
        "No such file or directory"
    )
