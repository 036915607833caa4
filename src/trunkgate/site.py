"""What every component of a running site starts from: the loaded config, the
store it names and the local review source on it. Nothing here runs a component."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pydantic

from trunkgate.config.loader import Config
from trunkgate.config.secrets import read_secret
from trunkgate.config.sections import GerritSource, GitHubSource
from trunkgate.review.code_urls import GIT_DIR, CodeUrls
from trunkgate.review.errors import ReviewError
from trunkgate.review.github.rest import GitHubRest
from trunkgate.review.source import LocalReview
from trunkgate.review.sources import ReviewSource, ReviewSources
from trunkgate.review.stored import StoredChanges, StoredEvents
from trunkgate.store import RecordExists, Store, StoreError, StoreSettings, TLSSettings, open_store

STORE_FILE = "state.db"


def store_settings(config: Config) -> StoreSettings:
    state = config.state
    path = config.resolve(state.path) if state.path else config.data_dir / STORE_FILE
    tls = None
    if state.tls is not None:
        tls = TLSSettings(
            ca=Path(config.resolve(state.tls.ca)),
            cert=Path(config.resolve(state.tls.cert)),
            key=Path(config.resolve(state.tls.key)),
        )
    try:
        return StoreSettings(
            backend=state.backend,
            path=path,
            lease_s=state.lease,
            hosts=state.hosts,
            chroot=state.chroot,
            tls=tls,
            session_timeout_s=state.session_timeout,
        )
    except pydantic.ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise StoreError(f"state settings of {config.files[0]}: {problems}") from None


async def open_site_store(config: Config) -> Store:
    settings = store_settings(config)
    if settings.backend == "sqlite":
        try:
            settings.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make the store's directory: {_place_error(exc)}") from None
    return await open_store(settings)


def _place_error(exc: OSError) -> str:
    """What is wrong with a directory to be made: FileExistsError says only
    that something is in the way."""
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return f"{exc.filename} is not a directory"
    return f"{exc.filename}: {exc.strerror}"


#: The scheduler's merger's cache of every project (bare repositories).
MERGER_CACHE_DIR = "merger/cache"
#: Builds' console logs and artifacts, one directory per build, under the data directory.
LOGS_DIR = "logs"
HOOK_FACTORY = "trunkgate.site:review_for_hook"


def open_site_review(config: Config, store: Store) -> LocalReview:
    """The local review source of a site, its changes and events in `store`."""
    return _review(config, StoredChanges(store), StoredEvents(store))


def open_review_sources(config: Config, store: Store) -> ReviewSources:
    """Every review source of the site: the local one and each remote
    system that a project names. A secret file that cannot be read is a
    `ReviewError` that names it."""
    from trunkgate.review.gerrit.rest import GerritRest
    from trunkgate.review.gerrit.source import GerritReview
    from trunkgate.review.github.source import GitHubReview

    remote: dict[str, ReviewSource] = {}
    projects: dict[str, str] = {}
    code = CodeUrls.of(config)
    for name, source in config.sources.items():
        mine = [p for p, section in config.projects.items() if section.source == name]
        if not mine or not isinstance(source, GerritSource | GitHubSource):
            continue
        projects.update(dict.fromkeys(mine, name))
        if isinstance(source, GitHubSource):
            remote[name] = GitHubReview(
                source, _github_rest(config, source), store, mine, code=code
            )
            continue
        password = _secret(config, source.password_file, f"source '{name}' password-file")
        remote[name] = GerritReview(
            source,
            GerritRest(source.web_url, source.user, password),
            store,
            mine,
            key=config.resolve(source.ssh_key),
            known_hosts=config.resolve(source.known_hosts) if source.known_hosts else None,
            code=code,
        )
    return ReviewSources(open_site_review(config, store), remote, projects)


def _github_rest(config: Config, source: GitHubSource) -> GitHubRest:
    what = f"source '{source.name}'"
    if source.token_file is not None:
        token = _secret(config, source.token_file, f"{what} token-file")
        return GitHubRest(source.api_url, token=token)
    assert source.app_key is not None  # the config has one or the other
    key = _secret(config, source.app_key, f"{what} app-key").encode()
    return GitHubRest(source.api_url, app_id=source.app_id, app_key=key)


def _secret(config: Config, path: str, what: str) -> str:
    try:
        return read_secret(config.resolve(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{what}: cannot read {path}: {exc}") from None


def review_for_hook(config_path: str) -> LocalReview:
    """For the push hook: the site's review source, opening the store when first used."""
    from trunkgate.config.loader import load_config

    config = load_config(config_path)

    async def opener() -> Store:
        return await open_site_store(config)

    return _review(config, StoredChanges(opener=opener), StoredEvents(opener=opener))


def _review(config: Config, changes: StoredChanges, events: StoredEvents) -> LocalReview:
    data = config.data_dir
    source = next((s for s in config.sources.values() if s.driver == "local"), None)
    return LocalReview(
        data / GIT_DIR,
        changes,
        events,
        name=source.name if source else "local",
        work_dir=data / "review-merger",
        hook=(HOOK_FACTORY, config_argument(config)),
    )


def dashboard_url(config: Config) -> str:
    """Where people reach the web dashboard: `web.url`, else its listening
    address (this host's name when it listens on every address)."""
    if config.web.url:
        return config.web.url.rstrip("/")
    host = config.web.listen
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.web.port}"


def config_argument(config: Config) -> str:
    """What `load_config` needs to load this config again: its file or directory."""
    return config.files[0] if len(config.files) == 1 else str(config.base_dir)


# The site's identity: a random id made when its store is first used and kept
# there, so it outlives restarts, and a new store (a new site) gets a new one.
SITE_ID = "/site"


async def site_id(store: Store) -> str:
    """This site's id, made on first use; what keeps its builds apart from
    another site's in a history database they share."""
    while True:
        record = await store.get(SITE_ID)
        if record is not None:
            if not isinstance(record.value, str) or not record.value:
                raise StoreError(f"the store's {SITE_ID} holds {record.value!r}, not a site id")
            return record.value
        try:
            await store.create(SITE_ID, uuid.uuid4().hex)
        except RecordExists:
            continue
