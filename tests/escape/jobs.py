"""What a job must still be able to do inside the sandbox, each the files of
one change: install a package with apt from a local repository the change
carries (a node reaches no network), pip-install a local wheel into a venv,
run a service on port 80, and a two-node job whose nodes talk. Each prints
`WORKED: ...` when it did.
"""

# Shell scripts read best one command a line, however long.
# ruff: noqa: E501

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tempfile
import zipfile
from pathlib import Path

_APT = r"""
set -e
# apt reads a local repository as its _apt user, who may not enter /root.
cp -r repo /srv/repo
echo "deb [trusted=yes] file:/srv/repo ./" > /etc/apt/sources.list.d/local.list
apt-get -q update -o Dir::Etc::sourcelist=sources.list.d/local.list \
  -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
apt-get -q install -y trunkgate-hello
echo "WORKED: $(trunkgate-hello)"
"""

_PIP = r"""
set -e
python3 -m venv /tmp/venv
/tmp/venv/bin/pip -q install --no-index --find-links wheels trunkgate-probe
echo "WORKED: $(/tmp/venv/bin/python -c 'import trunkgate_probe; print(trunkgate_probe.ANSWER)')"
"""

_SERVICE = r"""
set -e
echo "served by a node" > /tmp/index.html
setsid python3 -m http.server 80 --bind 0.0.0.0 --directory /tmp </dev/null >/tmp/http.log 2>&1 &
for i in $(seq 100); do
  if out=$(python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:80/index.html").read().decode().strip())' 2>/dev/null); then
    echo "WORKED: port 80 answered: $out"; exit 0
  fi
  sleep 0.1
done
exit 1
"""

_PEER_SERVE = r"""
set -e
hostname > /tmp/whoami
setsid python3 -m http.server 8080 --bind 0.0.0.0 --directory /tmp </dev/null >/tmp/http.log 2>&1 &
for i in $(seq 100); do
  python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8080), 1)' 2>/dev/null && exit 0
  sleep 0.1
done
exit 1
"""

_PRIMARY_FETCH = r"""
set -e
peer=$TRUNKGATE_NODE_PEER_ADDRESS
echo "WORKED: the peer says $(python3 -c "import urllib.request; print(urllib.request.urlopen('http://$peer:8080/whoami').read().decode().strip())")"
"""


def apt_change() -> dict[str, str | bytes]:
    deb = _deb("trunkgate-hello", "/usr/bin/trunkgate-hello", "#!/bin/sh\necho hello from a deb\n")
    return {
        "ci.sh": _APT,
        "repo/trunkgate-hello_1.0_all.deb": deb,
        "repo/Packages": _packages_entry("trunkgate-hello", deb),
    }


def pip_change() -> dict[str, str | bytes]:
    return {"ci.sh": _PIP, "wheels/trunkgate_probe-1.0-py3-none-any.whl": _wheel()}


def service_change() -> dict[str, str | bytes]:
    return {"ci.sh": _SERVICE}


def two_node_change() -> dict[str, str | bytes]:
    return {"serve.sh": _PEER_SERVE, "fetch.sh": _PRIMARY_FETCH}


_CONTROL = """\
Package: {name}
Version: 1.0
Architecture: all
Maintainer: Eve <eve@example.org>
Description: a package the escape suite installs from a local repository
"""


def _deb(name: str, path: str, script: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "pkg")
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(_CONTROL.format(name=name))
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True)
        target.write_text(script)
        target.chmod(0o755)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(root), f"{tmp}/out.deb"],
            check=True,
            capture_output=True,
        )
        return Path(tmp, "out.deb").read_bytes()


def _packages_entry(name: str, deb: bytes) -> str:
    return (
        _CONTROL.format(name=name)
        + f"Filename: ./{name}_1.0_all.deb\n"
        + f"Size: {len(deb)}\n"
        + f"SHA256: {hashlib.sha256(deb).hexdigest()}\n\n"
    )


def _wheel() -> bytes:
    files = {
        "trunkgate_probe/__init__.py": b"ANSWER = 'wheel installed in a venv'\n",
        "trunkgate_probe-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: trunkgate-probe\nVersion: 1.0\n"
        ),
        "trunkgate_probe-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("trunkgate_probe-1.0.dist-info/RECORD,,")
    files["trunkgate_probe-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return buffer.getvalue()
