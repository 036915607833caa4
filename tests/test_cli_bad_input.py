"""Bad input through the real `trunkgate` command, on a site made by
`trunkgate init`: every refusal is one line on stderr saying what is wrong,
a non-zero exit, and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HUGE = str(2**70)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trunkgate.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one line of a refusal; fails unless it is one and names `words`."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode != 0, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input")
    result = run("init", str(root / "site"))
    assert result.returncode == 0, result.stderr
    return root / "site"


def working(site: Path) -> Path:
    return site / "src" / "example" / "calc"


# Each: the arguments after `-c CONFIG` ({site} and {repo} filled in), and
# words the one line of refusal must hold.
CASES: list[tuple[str, ...]] = [
    # Parsing: argparse's own refusals, on one line too.
    ("nosuchcommand", "nosuchcommand"),
    ("change", "ACTION"),
    ("builds --limit abc", "--limit", "abc"),
    ("status --format xml", "xml"),
    ("config check extra", "extra"),
    ("config jobs --project nosuch", "nosuch"),
    ("config jobs --pipeline nosuch", "nosuch"),
    ("builds --project nosuch", "--project", "nosuch"),
    ("builds --pipeline nosuch", "--pipeline", "nosuch"),
    ("builds --job nosuch", "--job", "nosuch"),
    ("change comment 999 {empty}", "empty"),
    ("init {empty}", "DIR"),
    ("init /proc/trunkgate-site", "/proc/trunkgate-site"),
    ("init {site}/trunkgate.yaml/site", "trunkgate.yaml"),
    # Numbers.
    (f"builds --limit {HUGE}", "--limit"),
    ("builds --limit 0", "--limit"),
    ("builds --limit -1", "--limit"),
    (f"builds --change {HUGE}", "--change"),
    ("builds --change -5", "--change"),
    (f"change show {HUGE}", "N"),
    ("change show -1", "N"),
    ("change show 0", "N"),
    (f"change approve {HUGE}", "N"),
    (f"enqueue --pipeline gate --change {HUGE}", "--change"),
    (f"promote --pipeline gate --change {HUGE}", "--change"),
    (f"change propose --project example/calc --repo {{repo}} --change {HUGE}", "--change"),
    ("change propose --project example/calc --repo {repo} --change -1", "--change"),
    # Unknown things.
    ("change show 999", "999"),
    ("change approve 999", "999"),
    ("change abandon 999", "999"),
    ("change restore 999", "999"),
    ("change comment 999 hi", "999"),
    ("change list --project nosuch", "nosuch"),
    ("enqueue --pipeline gate --change 999", "999"),
    ("enqueue --pipeline nosuch --change 1", "nosuch"),
    ("dequeue --pipeline gate --change 999", "999"),
    ("console nosuch", "nosuch"),
    ("node hold nosuch", "nosuch"),
    ("node release nosuch", "nosuch"),
    ("node hold {empty}", "not an id"),
    ("node release ../../x", "not an id"),
    ("autohold delete /", "not an id"),
    ("dequeue --pipeline nosuch --change 1", "nosuch"),
    ("promote --pipeline gate --change 999", "999"),
    ("console nosuch --raw", "nosuch"),
    ("config jobs --format xml", "xml"),
    ("demo extra", "extra"),
    ("autohold delete nosuch", "nosuch"),
    ("serve --components nosuch", "nosuch"),
    ("serve --components ,", "component"),
    ("serve --log-level loud", "loud"),
    # Files and directories.
    ("change propose --project example/calc --repo /nonexistent", "/nonexistent"),
    ("change propose --project example/calc --repo {site}/trunkgate.yaml", "trunkgate.yaml"),
    ("change propose --project example/calc --repo {repo} --rev nosuchrev", "nosuchrev"),
    ("change propose --project nosuch --repo {repo}", "nosuch"),
    ("init {site}/trunkgate.yaml", "trunkgate.yaml"),
    ("init {site}", "trunkgate.yaml"),
    ("node hold nosuch --key /nonexistent", "/nonexistent"),
    ("node hold nosuch --key /dev/zero", "/dev/zero", "too big"),
    ("node hold nosuch --key {site}", "Is a directory"),
    (f"node hold nosuch --reason {'x' * 501}", "--reason", "501"),
    ("node hold nosuch --reason", "--reason", "say why"),
    # Autohold requests that could never hold anything, or hold forever.
    ("autohold add --project example/calc --job nosuchjob --reason x", "nosuchjob"),
    ("autohold add --project nosuch --job style --reason x", "nosuch"),
    ("autohold add --project example/calc --job style --reason x --count 0", "--count"),
    ("autohold add --project example/calc --job style --reason x --count -3", "--count"),
    (f"autohold add --project example/calc --job style --reason x --count {HUGE}", "--count"),
    (f"autohold add --project example/calc --job style --reason x --change {HUGE}", "--change"),
    ("autohold add --project example/calc --job style --reason x --change -1", "--change"),
    ("autohold add --project example/calc --job style --reason x --for=-1h", "--for"),
    ("autohold add --project example/calc --job style --reason x --for nonsense", "--for"),
    (f"autohold add --project example/calc --job style --reason x --for {HUGE}", "--for"),
    ("autohold add --project example/calc --job style --reason", "--reason"),
    (f"autohold add --project example/calc --job style --reason {'x' * 501}", "--reason", "501"),
    ("autohold add --project example/calc --job style --reason x --key /nonexistent", "/no"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line(site: Path, case: tuple[str, ...]) -> None:
    command, *words = case
    args = command.format(site=site, repo=working(site), empty="\0").split()
    args = ["" if arg == "\0" else arg for arg in args]
    if command.endswith("--reason"):
        args.append("")
    result = run("-c", str(site / "trunkgate.yaml"), *args)
    refused(result, *words)


def test_nothing_was_added_by_the_refusals(site: Path) -> None:
    listed = run("-c", str(site / "trunkgate.yaml"), "autohold", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"


@pytest.fixture
def fresh_site(tmp_path: Path) -> Path:
    result = run("init", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "site"


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_project_create_refuses_a_bad_start_and_leaves_nothing(
    fresh_site: Path, tmp_path: Path
) -> None:
    config = fresh_site / "trunkgate.yaml"
    with config.open("a") as file:
        file.write("  - name: example/other\n    source: local\n    templates: [example-jobs]\n")
    bare = fresh_site / "data" / "git" / "example" / "other.git"
    (tmp_path / "plain").mkdir()
    for start, words in (
        (["--from", str(tmp_path / "missing")], ("missing", "not a directory")),
        (["--from", str(config)], ("trunkgate.yaml", "not a directory")),
        (["--from", str(tmp_path / "plain")], ("plain", "not a git")),
        (["--from", str(working(fresh_site)), "--rev", "nosuch"], ("nosuch", "not a commit")),
    ):
        refused(run("-c", str(config), "project", "create", "example/other", *start), *words)
        assert not bare.exists(), start
    created = run(
        "-c", str(config), "project", "create", "example/other", "--from", str(working(fresh_site))
    )
    assert created.returncode == 0, created.stderr
    assert git(bare, "rev-parse", "main") == git(working(fresh_site), "rev-parse", "HEAD")


def test_a_second_project_create_is_refused_unless_replacing(
    fresh_site: Path, tmp_path: Path
) -> None:
    config = fresh_site / "trunkgate.yaml"
    bare = fresh_site / "data" / "git" / "example" / "calc.git"
    old = git(bare, "rev-parse", "main")
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "README").write_text("another start\n")
    git(other, "add", "README")
    git(other, "commit", "-q", "-m", "Another start")
    again = ["-c", str(config), "project", "create", "example/calc", "--from", str(other)]
    refused(run(*again), "example/calc", "--replace")
    assert git(bare, "rev-parse", "main") == old
    refused(run(*again, "--rev", "nosuch", "--replace"), "nosuch")
    assert git(bare, "rev-parse", "main") == old
    replaced = run(*again, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert git(bare, "rev-parse", "main") == git(other, "rev-parse", "HEAD")


def test_a_data_dir_that_is_a_file_is_named(fresh_site: Path) -> None:
    config = fresh_site / "trunkgate.yaml"
    config.write_text(config.read_text().replace("data-dir: ./data", "data-dir: ./trunkgate.yaml"))
    for command in (["nodes"], ["status"], ["builds"], ["change", "list"], ["serve"]):
        refused(run("-c", str(config), *command), "trunkgate.yaml", "not a directory")


def test_a_store_file_truncated_to_nothing_is_refused(fresh_site: Path) -> None:
    config = fresh_site / "trunkgate.yaml"
    store = fresh_site / "data" / "state.db"
    store.write_bytes(b"")
    for command in (["nodes"], ["change", "list"], ["serve"]):
        refused(run("-c", str(config), *command), str(store), "empty")
    assert store.read_bytes() == b""


def test_init_over_a_damaged_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "site" / "data").mkdir(parents=True)
    (tmp_path / "site" / "data" / "state.db").write_bytes(b"")
    refused(run("init", str(tmp_path / "site")), "state.db", "empty")


@pytest.mark.parametrize("config", ["/nonexistent.yaml", "/dev/null", "{site}/src"])
def test_a_bad_config_path_is_a_located_problem(site: Path, config: str) -> None:
    result = run("-c", config.format(site=site), "nodes")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    problem, summary = result.stderr.strip().splitlines()
    assert problem.startswith(config.format(site=site) + ":1:1: "), problem
    assert summary == "trunkgate: the configuration has 1 problem"
