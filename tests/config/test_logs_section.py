"""The `logs` section: where builds' logs are kept. A directory by default;
a bucket needs its name and its keys, and every mistake is refused at its
place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import load, problems, write
from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.loader import load_config

S3 = """\
        logs:
          backend: s3
          bucket: ci-logs.example
          prefix: /trunkgate/
          endpoint-url: https://minio.example.org:9000
          region: eu-central-1
          access-key-file: keys/access
          secret-key-file: keys/secret
        """


def test_without_a_logs_section_builds_stay_in_a_directory(tmp_path: Path) -> None:
    logs = load(tmp_path, "labels: [{name: default}]\n").logs
    assert (logs.backend, logs.bucket) == ("directory", None)


def test_a_bucket_reads_whole(tmp_path: Path) -> None:
    logs = load(tmp_path, S3).logs
    assert logs.backend == "s3"
    assert logs.bucket == "ci-logs.example"
    assert logs.prefix == "trunkgate"
    assert logs.endpoint_url == "https://minio.example.org:9000"
    assert logs.region == "eu-central-1"
    assert (logs.access_key_file, logs.secret_key_file) == ("keys/access", "keys/secret")


def test_a_web_server_keeps_two_gib_of_fetched_builds_unless_told(tmp_path: Path) -> None:
    assert load(tmp_path, S3).logs.keep_fetched == 2 << 30
    told = load(tmp_path, S3 + "  keep-fetched: 512M\n", name="told.yaml")
    assert told.logs.keep_fetched == 512 << 20


def test_a_bucket_left_out_is_refused_at_the_section(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        labels: [{name: default}]
        logs:
          backend: s3
          access-key-file: keys/access
          secret-key-file: keys/secret
        """,
    )
    assert found == ["trunkgate.yaml:2:1: 'logs': backend s3 needs a bucket (bucket: NAME)"]


@pytest.mark.parametrize(
    ("section", "said"),
    [
        (
            "backend: s3\n  bucket: logs",
            "trunkgate.yaml:1:1: 'logs': backend s3 needs its keys (access-key-file and "
            "secret-key-file)",
        ),
        (
            "bucket: logs\n  region: eu-west-1",
            "trunkgate.yaml:1:1: 'logs': bucket and region are for backend s3 (write backend: "
            "s3; backend directory keeps logs under the data directory)",
        ),
        ("backend: gcs", "trunkgate.yaml:2:3: 'backend' must be 'directory' or 's3', not 'gcs'"),
        ("bucket: Logs_2", "trunkgate.yaml:2:3: 'bucket': 'Logs_2' is not a bucket name"),
        ("prefix: a/../b", "trunkgate.yaml:2:3: 'prefix': 'a/../b' is not a prefix"),
        (
            "endpoint-url: minio:9000",
            "trunkgate.yaml:2:3: 'endpoint-url': 'minio:9000' is not an http:// or https:// URL",
        ),
        ("buckets: logs", "trunkgate.yaml:2:3: unknown key 'buckets' (did you mean 'bucket'?)"),
        (
            "keep-fetched: 1G",
            "trunkgate.yaml:1:1: 'logs': keep-fetched is for backend s3 (write backend: s3; "
            "backend directory keeps logs under the data directory)",
        ),
        (
            "backend: s3\n  bucket: logs\n  access-key-file: a\n  secret-key-file: s\n"
            "  keep-fetched: lots",
            "trunkgate.yaml:6:3: 'keep-fetched': 'lots' is not a size",
        ),
    ],
)
def test_a_logs_section_that_cannot_work_is_refused_at_its_place(
    tmp_path: Path, section: str, said: str
) -> None:
    found = problems(tmp_path, f"logs:\n  {section}\n")
    assert len(found) == 1
    assert found[0].startswith(said)


def test_key_files_are_checked_when_the_site_starts(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "access").write_text("AKIAEXAMPLE\n")
    (keys / "access").chmod(0o644)
    config = write(tmp_path / "trunkgate.yaml", S3)

    assert load_config(config).logs.bucket == "ci-logs.example"  # reading needs no secret
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config, check_secrets=True)

    assert [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems] == [
        "trunkgate.yaml:7:3: logs: access-key-file: keys/access may be read by others "
        "(mode 644); run `chmod 600 keys/access`",
        "trunkgate.yaml:8:3: logs: secret-key-file: keys/secret does not exist",
    ]
