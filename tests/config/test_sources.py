"""Review sources in the config: the secrets they name must be usable when
a site starts or its config is checked (each problem at its FILE:LINE:COL),
while a command that only reads the site works for whoever may not read
them; and a GitHub source must say how it signs in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.config.helpers import LABELS, problems, write
from trunkgate.config.errors import ConfigInvalid
from trunkgate.config.loader import load_config

SOURCES = """\
        sources:
          - name: review
            driver: gerrit
            server: review.example.org
            user: trunkgate
            ssh-key: keys/gerrit
            web-url: https://review.example.org
            password-file: keys/gerrit.password
          - name: hub
            driver: github
            app-id: 12345
            app-key: keys/app.pem
            webhook-secret-file: keys/webhook
            merge-method: squash
        web:
          admin-token-file: keys/admin.token
"""


SSH_KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
APP_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


def secret(path: Path, text: str = "s3cret\n", mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def checked(tmp_path: Path) -> list[str]:
    config = write(tmp_path / "trunkgate.yaml", LABELS + SOURCES)
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config, check_secrets=True)
    return [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems]


def test_usable_secrets_pass_and_every_unusable_one_is_named_at_its_place(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    for name in ("gerrit.password", "webhook", "admin.token"):
        secret(keys / name)
    secret(keys / "gerrit", SSH_KEY)
    secret(keys / "app.pem", APP_KEY)
    config = load_config(write(tmp_path / "trunkgate.yaml", LABELS + SOURCES), check_secrets=True)
    assert config.sources["hub"].merge_method == "squash"
    (keys / "gerrit").unlink()
    (keys / "app.pem").chmod(0o644)
    (keys / "webhook").write_text("")
    assert checked(tmp_path) == [
        "trunkgate.yaml:8:5: source 'review': ssh-key: keys/gerrit does not exist",
        "trunkgate.yaml:14:5: source 'hub': app-key: keys/app.pem may be read by others "
        "(mode 644); run `chmod 600 keys/app.pem`",
        "trunkgate.yaml:15:5: source 'hub': webhook-secret-file: keys/webhook is empty",
    ]
    (keys / "admin.token").unlink()
    assert checked(tmp_path)[-1] == (
        "trunkgate.yaml:18:3: web: admin-token-file: keys/admin.token does not exist"
    )


def test_commands_that_only_read_the_site_need_no_secret(tmp_path: Path) -> None:
    config = write(tmp_path / "trunkgate.yaml", LABELS + SOURCES)
    shown = subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), "config", "jobs"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    check = subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), "config", "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1
    assert "ssh-key" in check.stderr
    assert "does not exist" in check.stderr


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ("driver: github\n            app-id: 7", "an App needs both app-id and app-key"),
        ("driver: github\n            app-key: k.pem", "an App needs both app-id and app-key"),
        ("driver: github\n            webhook-secret-file: w", "say how to sign in"),
        (
            "driver: github\n            token-file: t\n            merge-method: fast",
            "merge-method",
        ),
        ("driver: github\n            token-file: t", "webhook-secret-file is needed"),
        (
            "driver: gerrit\n            server: r\n            user: u\n            web-url: https://r"
            "\n            password-file: p",
            "missing the required key 'ssh-key'",
        ),
        (
            "driver: gerrit\n            server: r\n            user: u\n            ssh-key: k"
            "\n            web-url: https://r",
            "missing the required key 'password-file'",
        ),
    ],
)
def test_a_source_that_cannot_work_is_refused(tmp_path: Path, settings: str, said: str) -> None:
    found = problems(
        tmp_path,
        LABELS
        + f"""\
        sources:
          - name: hub
            {settings}
""",
    )
    assert len(found) == 1
    assert found[0].startswith("trunkgate.yaml:")
    assert said in found[0]


def test_keys_that_cannot_sign_and_a_missing_known_hosts_file_are_named(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    for name in ("gerrit.password", "webhook", "admin.token"):
        secret(keys / name)
    secret(keys / "gerrit", "not a key at all\n")
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    secret(keys / "app.pem", ec_key.decode())
    config = write(
        tmp_path / "trunkgate.yaml",
        LABELS
        + SOURCES.replace(
            "ssh-key: keys/gerrit\n", "ssh-key: keys/gerrit\n            known-hosts: keys/known\n"
        ),
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config, check_secrets=True)
    found = [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems]
    assert found[0].startswith(
        "trunkgate.yaml:8:5: source 'review': ssh-key: keys/gerrit is not an SSH private key"
    )
    assert found[1] == (
        "trunkgate.yaml:9:5: source 'review': known-hosts: keys/known does not exist "
        "(write the server's host key there: ssh-keyscan -p PORT SERVER)"
    )
    assert found[2] == (
        "trunkgate.yaml:15:5: source 'hub': app-key: keys/app.pem is not an RSA key, "
        "as a GitHub App's key is"
    )
