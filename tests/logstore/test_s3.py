"""The S3 backend's own ways: where objects go and what type they say, object
keys written into the bucket by someone else, and a bucket or an endpoint
that is not there, told in one line that names them."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.logstore.conftest import s3_settings
from tests.logstore.motoserver import MotoServer
from trunkgate.logstore import LogStore, LogStoreError, S3LogStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = "change-12-3f2a9c1e/unit"


@pytest.fixture
async def store(moto: MotoServer, bucket: str) -> AsyncIterator[LogStore]:
    opened = S3LogStore(s3_settings(moto, bucket))
    yield opened
    await opened.close()


def objects(s3: S3Client, bucket: str) -> dict[str, str]:
    """Every object's key in the bucket, with its content type."""
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: s3.head_object(Bucket=bucket, Key=o["Key"])["ContentType"] for o in listed}


async def test_each_file_is_an_object_under_the_prefix_and_text_says_text(
    store: LogStore, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    build = tmp_path / "build"
    (build / "artifacts").mkdir(parents=True)
    (build / "console.log").write_text("+ make\n")
    (build / "artifacts" / "index.html").write_text("<script>alert(1)</script>")
    (build / "artifacts" / "notes").write_text("no suffix, still text\n")
    (build / "artifacts" / "shot.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (build / "artifacts" / "core").write_bytes(b"\x7fELF\x00\x01")

    await store.publish(build, KEY)

    assert objects(s3, bucket) == {
        f"site/{KEY}/console.log": "text/plain; charset=utf-8",
        f"site/{KEY}/artifacts/index.html": "text/plain; charset=utf-8",
        f"site/{KEY}/artifacts/notes": "text/plain; charset=utf-8",
        f"site/{KEY}/artifacts/shot.png": "image/png",
        f"site/{KEY}/artifacts/core": "application/octet-stream",
    }


def files_below(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "hostile",
    [
        "../../escape.txt",
        "artifacts/../../../escape.txt",
        "/escape.txt",
        "./escape.txt",
    ],
)
async def test_an_object_key_that_climbs_out_is_never_written(
    store: LogStore, s3: S3Client, bucket: str, tmp_path: Path, hostile: str
) -> None:
    s3.put_object(Bucket=bucket, Key=f"site/{KEY}/console.log", Body=b"ran\n")
    s3.put_object(Bucket=bucket, Key=f"site/{KEY}/{hostile}", Body=b"gotcha\n")
    host = tmp_path / "web"
    dest = host / "cache" / "change-12-3f2a9c1e" / "unit"

    assert await store.fetch(KEY, dest)

    assert files_below(tmp_path) == ["web/cache/change-12-3f2a9c1e/unit/console.log"]


async def test_a_file_and_a_directory_of_one_name_do_not_stop_a_fetch(
    store: LogStore, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    # Possible in a bucket, never on a disk: one of the two is passed over.
    s3.put_object(Bucket=bucket, Key=f"site/{KEY}/report", Body=b"a file\n")
    s3.put_object(Bucket=bucket, Key=f"site/{KEY}/report/index.txt", Body=b"in a directory\n")
    s3.put_object(Bucket=bucket, Key=f"site/{KEY}/console.log", Body=b"ran\n")

    assert await store.fetch(KEY, tmp_path / "dest")

    assert (tmp_path / "dest" / "console.log").read_text() == "ran\n"
    assert (tmp_path / "dest" / "report").exists()


async def test_a_missing_bucket_is_named_with_its_endpoint(
    moto: MotoServer, tmp_path: Path
) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "console.log").write_text("ran\n")
    store = S3LogStore(s3_settings(moto, "no-such-logs"))

    with pytest.raises(LogStoreError) as published:
        await store.publish(tmp_path / "build", KEY)
    with pytest.raises(LogStoreError) as fetched:
        await store.fetch(KEY, tmp_path / "dest")

    for caught in (published, fetched):
        assert str(caught.value).startswith(f"S3 bucket 'no-such-logs' at {moto.endpoint}: cannot ")
        assert str(caught.value).endswith(": no such bucket")
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__
    await store.close()


@pytest.fixture
def dead_endpoint() -> str:
    """An address on loopback where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_an_endpoint_that_does_not_answer_is_named_once_retried(
    moto: MotoServer, dead_endpoint: str, tmp_path: Path
) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "console.log").write_text("ran\n")
    store = S3LogStore(
        s3_settings(moto, "logs", endpoint_url=dead_endpoint), max_attempts=2, connect_timeout=2
    )

    with pytest.raises(LogStoreError) as caught:
        await store.publish(tmp_path / "build", KEY)

    assert str(caught.value) == (
        f"S3 bucket 'logs' at {dead_endpoint}: cannot upload site/{KEY}/console.log: "
        "cannot connect to the endpoint"
    )
    assert caught.value.__cause__ is None
    await store.close()


async def test_keys_the_endpoint_refuses_are_named(tmp_path: Path) -> None:
    strict = MotoServer(checks_keys=True)
    strict.start()
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "console.log").write_text("ran\n")
    store = S3LogStore(s3_settings(strict, "logs"))
    try:
        with pytest.raises(LogStoreError) as caught:
            await store.publish(tmp_path / "build", KEY)
    finally:
        await store.close()
        strict.stop()

    assert str(caught.value) == (
        f"S3 bucket 'logs' at {strict.endpoint}: cannot upload site/{KEY}/console.log: "
        "the keys were refused (The AWS Access Key Id you provided does not exist in our "
        "records.)"
    )


async def test_only_the_sites_settings_are_used_never_those_of_the_home_or_environment(
    moto: MotoServer,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each of these, if read, breaks every request: a profile that is not
    # there, an accelerated endpoint (refused with a custom one), an
    # endpoint where nothing listens, and keys of someone else.
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text(
        "[default]\ns3 =\n    use_accelerate_endpoint = true\nendpoint_url = http://127.0.0.1:9\n"
    )
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAHOMEHOMEHOMEHOME\naws_secret_access_key = home\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_PROFILE", "not-a-profile")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    build = tmp_path / "build"
    build.mkdir()
    (build / "console.log").write_text("ran\n")
    store = S3LogStore(s3_settings(moto, bucket))

    await store.publish(build, KEY)
    assert await store.fetch(KEY, tmp_path / "dest")

    assert (tmp_path / "dest" / "console.log").read_text() == "ran\n"
    await store.close()
