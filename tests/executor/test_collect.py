"""`inspect_copy` on trees made by hand as rsync leaves them (symlinks
munged), with what no copy should bring: what remains is safe to keep, and
each thing removed is named."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from trunkgate.executor import limited_pipe
from trunkgate.executor.collect import MUNGED, inspect_copy, size_text


def described(root: Path, *, file_limit: int = 1 << 20) -> dict[str, str]:
    inspection = inspect_copy(root, file_limit=file_limit)
    return {f.path: f.what for f in inspection.findings}


def test_special_files_go_and_set_id_bits_owners_and_modes_are_settled(tmp_path: Path) -> None:
    root = tmp_path / "primary"
    (root / "out" / "sub").mkdir(parents=True)
    (root / "out" / "setuid").write_text("x")
    # Owner first: chown clears a set-uid bit.
    os.chown(root / "out" / "setuid", 1234, 1234)
    os.chmod(root / "out" / "setuid", 0o4755)
    os.chmod(root / "out" / "sub", 0o3777)
    os.mkfifo(root / "out" / "fifo")
    os.mknod(root / "out" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))

    found = described(root)

    assert found == {
        "out/setuid": "set-uid bit removed",
        "out/sub": "set-gid and sticky bits removed",
        "out/fifo": "a fifo; removed",
        "out/null": "a character device; removed",
    }
    st = (root / "out" / "setuid").lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o644, 0, 0)
    assert stat.S_IMODE((root / "out" / "sub").lstat().st_mode) == 0o755


def test_symlinks_stay_only_when_the_kernel_would_resolve_them_inside(tmp_path: Path) -> None:
    root = tmp_path / "primary"
    (root / "out" / "sub").mkdir(parents=True)
    (root / "out" / "plain.txt").write_text("plain\n")
    for name, target in {
        "out/inside": "plain.txt",
        "out/sub/back": "../..",
        "out/shadow": "/etc/shadow",
        "out/up": "../../x",
        # Lexically out/x, inside; the kernel goes through sub/back to the root's parent.
        "out/chain": "sub/back/../../x",
        # What rsync did not munge is judged the same.
        "out/raw": "/etc/passwd",
    }.items():
        stored = target if name == "out/raw" else MUNGED + target
        os.symlink(stored, root / name)

    found = described(root)

    assert found == {
        "out/shadow": "a symlink to /etc/shadow, outside the copy; dropped",
        "out/raw": "a symlink to /etc/passwd, outside the copy; dropped",
        "out/up": "a symlink to ../../x, outside the copy; dropped",
        "out/chain": "a symlink to sub/back/../../x, outside the copy; dropped",
    }
    assert os.readlink(root / "out" / "inside") == "plain.txt"
    assert os.readlink(root / "out" / "sub" / "back") == "../.."
    assert sorted(p.name for p in (root / "out").iterdir()) == ["inside", "plain.txt", "sub"]


def test_a_hard_link_to_a_host_file_is_removed_without_touching_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host\n")
    os.chmod(secret, 0o4700)
    root = tmp_path / "primary"
    root.mkdir()
    os.link(secret, root / "linked")

    found = described(root)

    assert found == {"linked": "a hard link to another file of this host; removed"}
    assert stat.S_IMODE(secret.stat().st_mode) == 0o4700


def test_files_over_the_limit_go_and_the_kept_bytes_are_counted(tmp_path: Path) -> None:
    root = tmp_path / "primary"
    root.mkdir()
    (root / "big").write_bytes(b"x" * 2048)
    (root / "small").write_bytes(b"x" * 100)

    inspection = inspect_copy(root, file_limit=1024)

    assert [f.describe() for f in inspection.findings] == [
        "big: 2.0 KiB, over the limit of 1.0 KiB per file; removed"
    ]
    assert inspection.kept_bytes == 100


def test_a_name_that_would_steer_a_terminal_is_described_harmlessly(tmp_path: Path) -> None:
    root = tmp_path / "primary"
    root.mkdir()
    os.mkfifo(root / "a\x1b[2J\nb")

    (finding,) = inspect_copy(root, file_limit=1024).findings

    assert finding.describe() == "a\\x1b[2J\\x0ab: a fifo; removed"


@pytest.mark.parametrize(
    ("size", "text"), [(512, "512 bytes"), (3 << 20, "3.0 MiB"), (1 << 30, "1.0 GiB")]
)
def test_sizes_read_as_a_person_reads_them(size: int, text: str) -> None:
    assert size_text(size) == text


def relay_through(tmp_path: Path, data: bytes, limit: int) -> tuple[bytes, str]:
    report = tmp_path / "report"
    source = tmp_path / "data"
    source.write_bytes(data)
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            limited_pipe.__file__,
            str(limit),
            str(report),
            "cat",
            str(source),
        ],
        capture_output=True,
        check=False,
    )
    return done.stdout, report.read_text()


def test_the_relay_passes_on_what_is_within_the_limit(tmp_path: Path) -> None:
    assert relay_through(tmp_path, b"x" * 1000, 1000) == (b"x" * 1000, "1000 complete\n")


def test_the_relay_stops_past_the_limit_and_says_so(tmp_path: Path) -> None:
    assert relay_through(tmp_path, b"x" * 300_000, 100_000) == (b"x" * 100_000, "100000 over\n")


def munged(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(MUNGED + target, path)


def test_a_chain_too_long_to_resolve_keeps_no_link_that_leaves(tmp_path: Path) -> None:
    # 1,200 links, one to the next: more than the kernel (or Python's
    # realpath) follows; links out of the copy beside them.
    root = tmp_path / "primary"
    for n in range(1200):
        munged(root / "art" / f"l{n}", f"l{n + 1}")
    (root / "art" / "l1200").write_text("end\n")
    munged(root / "art" / "shadow", "../" * 12 + "etc/shadow")
    munged(root / "art" / "via-chain", "l0/../../../etc")

    found = described(root)

    assert found["art/shadow"].startswith("a symlink to ../../")
    assert "art/via-chain" in found
    assert not (root / "art" / "shadow").is_symlink()
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = Path(top, name)
            if path.is_symlink():
                assert os.path.realpath(path).startswith(str(root.resolve())) or not (
                    os.path.exists(path)
                ), path


def test_a_link_through_another_link_is_judged_by_where_both_lead(tmp_path: Path) -> None:
    root = tmp_path / "primary"
    munged(root / "a" / "up", "..")
    munged(root / "a" / "out", "up/../etc")
    munged(root / "a" / "in", "up/a")
    (root / "etc").mkdir()

    found = described(root)

    assert set(found) == {"a/out"}
    assert os.readlink(root / "a" / "in") == "up/a"
    assert os.readlink(root / "a" / "up") == ".."


def test_trees_too_deep_or_too_big_are_not_kept_whole(tmp_path: Path) -> None:
    from trunkgate.executor import collect

    root = tmp_path / "primary"
    deep = root.joinpath(*["d"] * (collect.MAX_DEPTH + 10))
    deep.mkdir(parents=True)
    (deep / "bottom").write_text("x")

    found = described(root)

    assert list(found.values()) == [f"deeper than {collect.MAX_DEPTH} levels; removed"]
    assert not (root.joinpath(*["d"] * collect.MAX_DEPTH)).exists()
    assert (root.joinpath(*["d"] * (collect.MAX_DEPTH - 1))).is_dir()

    crowded = tmp_path / "crowded"
    crowded.mkdir()
    for n in range(60):
        (crowded / f"f{n}").write_text("")
    with pytest.raises(collect.TooMuch, match="more than 50"):
        inspect_copy(crowded, file_limit=1 << 20, max_entries=50)
