"""Models of the site sections of the config: state, history, web, logs,
pool, sources, providers, labels, images and pipelines. Jobs, nodesets, templates
and projects live in `trunkgate.config.jobs`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

from trunkgate.config.types import ConfigModel, Duration, Interval, Size
from trunkgate.cron import Cron


def _whole_parts(name: str) -> str:
    # Names become paths under the data directory (a project's repository).
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(
            f"'{name}' is not a valid name: a part between slashes may not be empty, '.' or '..'"
        )
    return name


Name = Annotated[
    str,
    Field(min_length=1, pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./+-]*$"),
    AfterValidator(_whole_parts),
]


def _host_name(name: str) -> str:
    # A static host's name is a file name of the provider's claims.
    if "/" in name:
        raise ValueError(
            f"'{name}' is not a valid host name: use letters, digits and . _ + - (no slash)"
        )
    return name


HostName = Annotated[Name, AfterValidator(_host_name)]


def _image_name(name: str) -> str:
    # An image's name is a directory of its builds and a record of the store.
    if "/" in name:
        raise ValueError(
            f"'{name}' is not a valid image name: use letters, digits and . _ + - (no slash)"
        )
    return name


ImageName = Annotated[Name, AfterValidator(_image_name)]

#: The cloud metadata address: a node must never reach it as a neighbour.
METADATA_ADDRESS = IPv4Address("169.254.169.254")
#: Where a namespace provider's network may lie: the private and link-local ranges.
USABLE_RANGES = tuple(
    IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
)
#: A namespace provider takes a subnet of this size from its network.
PROVIDER_SUBNET_PREFIX = 24


def _usable_network(text: str) -> str:
    try:
        network = IPv4Network(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an IPv4 network in CIDR form (like 10.20.0.0/16)"
        ) from None
    if METADATA_ADDRESS in network:
        raise ValueError(f"{network} holds {METADATA_ADDRESS}, the cloud metadata address")
    if not any(network.subnet_of(usable) for usable in USABLE_RANGES):
        ranges = ", ".join(str(r) for r in USABLE_RANGES[:-1])
        raise ValueError(
            f"{network} is not a private or link-local range (inside {ranges} or "
            f"{USABLE_RANGES[-1]})"
        )
    if network.prefixlen > PROVIDER_SUBNET_PREFIX:
        raise ValueError(
            f"{network} is smaller than the /{PROVIDER_SUBNET_PREFIX} the provider takes from it"
        )
    return text


class TlsSettings(ConfigModel):
    ca: str
    cert: str
    key: str


class StateSection(ConfigModel):
    """Where shared state lives: one SQLite file (one host) or ZooKeeper."""

    backend: Literal["sqlite", "zookeeper"] = "sqlite"
    data_dir: str = "./trunkgate-data"
    path: str | None = None
    lease: Interval = 10.0
    hosts: str = "127.0.0.1:2181"
    chroot: str = "/trunkgate"
    tls: TlsSettings | None = None
    session_timeout: Interval = 10.0


class HistorySection(ConfigModel):
    """Finished builds: any SQLAlchemy URL; SQLite in the data dir by default."""

    url: str | None = None


class WebSection(ConfigModel):
    """The dashboard and REST API (`serve` component `web`).

    `url` is where people reach it (reports link to it); by default the
    listening address. Admin actions need the bearer token in
    `admin-token-file`; without the file there are none. With
    `read-token-file`, reading needs a token too (that one or the admin's).
    """

    listen: str = "127.0.0.1"
    port: int = Field(default=9000, ge=0, le=65535)
    url: str | None = None
    admin_token_file: str | None = None
    read_token_file: str | None = None

    SECRET_FILES: ClassVar[tuple[str, ...]] = ("admin_token_file", "read_token_file")


def _listen_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address to listen on") from None
    return value


#: An address of this host a component listens on.
ListenAddress = Annotated[str, AfterValidator(_listen_address)]


class ExecutorSection(ConfigModel):
    """This host's executor: `zone` says which providers' nodes it can reach
    (those of the same zone); none, those of no zone. With `console_port`,
    it serves its running builds' consoles there (on `console_listen`), for
    web servers on other hosts, which reach it at `console_url` (by default
    this host's name and the port)."""

    zone: Name | None = None
    max_builds: int | None = Field(default=None, ge=1)
    """The most builds it runs at once; by default, as many as its zone's
    providers have nodes (the sum of their max-servers). It takes no more,
    so builds go to the executors with room."""
    console_port: int | None = Field(default=None, ge=0, le=65535)
    console_listen: ListenAddress = "0.0.0.0"
    console_url: str | None = None

    @field_validator("console_url")
    @classmethod
    def _console_url(cls, value: str | None) -> str | None:
        if value is not None:
            parsed = urllib.parse.urlsplit(value)
            try:
                parsed.port  # noqa: B018 (urllib checks the port when it is read)
            except ValueError:
                raise ValueError(f"'{value}' has no valid port") from None
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"'{value}' is not an http(s)://HOST[:PORT] address")
            return value.rstrip("/")
        return value


class PoolSection(ConfigModel):
    """Site-wide node pool policy."""

    hold_failed_for: Duration = 24 * 3600.0
    max_held_nodes: int = Field(default=2, ge=0)
    reap_interval: Interval = 60.0
    # After SIGTERM, how long launches and deletes in flight may take to end.
    shutdown_grace: Duration = Field(default=5.0, ge=0)


class LocalSource(ConfigModel):
    """trunkgate's own review source: changes pushed to the bare
    repositories under the data directory of the host that runs its
    scheduler. With `git_url`, the `git` component serves them read-only over
    git's protocol, and components on other hosts fetch from there."""

    name: Name
    driver: Literal["local"]
    path: str | None = None
    git_url: str | None = None
    git_listen: ListenAddress = "0.0.0.0"

    @field_validator("git_url")
    @classmethod
    def _git_url(cls, value: str | None) -> str | None:
        if value is not None:
            git_daemon_address(value)  # raises a ValueError that says what is wrong
        return value.rstrip("/") if value is not None else None

    @property
    def git_port(self) -> int:
        return git_daemon_address(self.git_url)[1] if self.git_url else GIT_DAEMON_PORT


#: The git protocol's port.
GIT_DAEMON_PORT = 9418


def git_daemon_address(url: str) -> tuple[str, int]:
    """The host and port of a `git://HOST[:PORT]` URL."""
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port or GIT_DAEMON_PORT
    except ValueError:
        raise ValueError(f"'{url}' has no valid port") from None
    if parsed.scheme != "git" or not parsed.hostname:
        raise ValueError(f"'{url}' is not git://HOST[:PORT], where the git component listens")
    if parsed.path.strip("/") or parsed.query or parsed.fragment or parsed.username:
        raise ValueError(f"'{url}' names more than a host and port: git://HOST[:PORT]")
    return parsed.hostname, port


class GerritSource(ConfigModel):
    """A Gerrit server: events over SSH (`user` with `ssh_key`, the server's
    host key in `known_hosts`), reports and submits over REST at `web_url`
    (the user's HTTP password in `password_file`), code fetched from
    `git_url` (by default `web_url`, where Gerrit serves its projects over
    HTTP)."""

    name: Name
    driver: Literal["gerrit"]
    server: str
    port: int = Field(default=29418, ge=1, le=65535)
    user: str
    ssh_key: str
    known_hosts: str | None = None
    web_url: str
    password_file: str
    git_url: str | None = None

    SECRET_FILES: ClassVar[tuple[str, ...]] = ("ssh_key", "password_file")

    @property
    def fetch_url(self) -> str:
        return (self.git_url or self.web_url).rstrip("/")


class GitHubSource(ConfigModel):
    """GitHub (or GitHub Enterprise at `api_url`): as an App (`app_id` and
    its private key in `app_key`) or with a token in `token_file`; webhooks
    signed with the secret in `webhook_secret_file`."""

    name: Name
    driver: Literal["github"]
    api_url: str = "https://api.github.com"
    app_id: int | None = None
    app_key: str | None = None
    token_file: str | None = None
    webhook_secret_file: str | None = None
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    git_url: str = "https://github.com"
    """Where repositories are fetched from: `<git-url>/<owner>/<repo>.git`."""

    SECRET_FILES: ClassVar[tuple[str, ...]] = ("app_key", "token_file", "webhook_secret_file")

    @model_validator(mode="after")
    def _one_way_in(self) -> GitHubSource:
        if (self.app_id is None) != (self.app_key is None):
            raise ValueError("an App needs both app-id and app-key")
        if self.app_id is None and self.token_file is None:
            raise ValueError("say how to sign in: app-id with app-key, or token-file")
        if self.webhook_secret_file is None:
            raise ValueError(
                "webhook-secret-file is needed: a delivery is taken only when signed with it"
            )
        return self


Source = Annotated[LocalSource | GerritSource | GitHubSource, Field(discriminator="driver")]


#: The image that is the host's own system, as nodes see it: built by the
#: namespace driver itself, never by a recipe.
HOST_IMAGE = "host"


class ProviderLabel(ConfigModel):
    name: Name
    image: Name = HOST_IMAGE


class LvmKexecReset(ConfigModel):
    """The root is one of two LVM snapshots (`slots`) of a read-only
    `origin` volume, booted in turn: a reset makes a fresh snapshot in the
    slot not booted and kexecs the running kernel into it."""

    method: Literal["lvm-kexec"]
    volume_group: Annotated[str, Field(pattern=r"^[A-Za-z0-9+_.-]+$")]
    origin: Annotated[str, Field(pattern=r"^[A-Za-z0-9+_.-]+$")] = "root-origin"
    slots: tuple[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9+_.-]+$")],
        Annotated[str, Field(pattern=r"^[A-Za-z0-9+_.-]+$")],
    ] = ("root-a", "root-b")
    snapshot_size: Size = 10 << 30

    @model_validator(mode="after")
    def _apart(self) -> LvmKexecReset:
        if len({self.origin, *self.slots}) != 3:
            raise ValueError("origin and the two slots must be three different volumes")
        return self


class BtrfsReset(ConfigModel):
    """The root is one of two btrfs subvolumes (`slots`), snapshots of a
    read-only `origin` subvolume on `device`, booted in turn as the default
    subvolume: a reset snapshots the origin into the slot not booted, makes
    it the default and reboots."""

    method: Literal["btrfs"]
    device: str = Field(min_length=1)
    origin: Annotated[str, Field(pattern=r"^[A-Za-z0-9@+_.-]+$")] = "@origin"
    slots: tuple[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9@+_.-]+$")],
        Annotated[str, Field(pattern=r"^[A-Za-z0-9@+_.-]+$")],
    ] = ("@root-a", "@root-b")

    @model_validator(mode="after")
    def _apart(self) -> BtrfsReset:
        if len({self.origin, *self.slots}) != 3:
            raise ValueError("origin and the two slots must be three different subvolumes")
        return self


class CommandReset(ConfigModel):
    """The site's own command makes the machine pristine (and may reboot it)."""

    method: Literal["command"]
    command: str = Field(min_length=1)


Reset = Annotated[LvmKexecReset | BtrfsReset | CommandReset, Field(discriminator="method")]


class StaticHost(ConfigModel):
    name: HostName
    address: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    key: str | None = None
    labels: list[Name] = Field(min_length=1)
    reset_command: str | None = None
    reset: Reset | None = None
    """How the machine is made pristine between jobs (see `pool.resets`)."""

    @model_validator(mode="after")
    def _one_reset(self) -> StaticHost:
        if self.reset is not None and self.reset_command is not None:
            raise ValueError(
                "give reset-command or reset, not both (reset-command: C is "
                "reset: {method: command, command: C})"
            )
        return self


class NodeLimits(ConfigModel):
    """What one node of a provider may use; a job that reaches a limit fails."""

    memory: Size = 4 << 30
    pids: int = Field(default=4096, ge=16)
    cpus: float | None = Field(default=None, gt=0)
    disk: Size = 8 << 30
    shm: Size = 256 << 20


class ProviderSection(ConfigModel):
    name: Name
    driver: Literal["namespace", "static", "openstack"]
    max_servers: int = Field(default=10, ge=1)
    launch_retries: int = Field(default=3, ge=1)
    boot_timeout: Interval = 60.0
    ready_command: str = "true"
    labels: list[ProviderLabel] = Field(default_factory=list)
    network: Annotated[str, AfterValidator(_usable_network)] | None = None
    host_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    """TCP ports of the host that a namespace provider's nodes may connect to."""
    limits: NodeLimits = Field(default_factory=NodeLimits)
    id_base: int = Field(default=1_000_000_000, ge=65536, lt=1 << 31)
    """The first host id that namespace nodes' user namespaces map to."""
    ids_per_node: int = Field(default=65536, ge=65536, le=1 << 24)
    hosts: list[StaticHost] = Field(default_factory=list)
    cloud: str | None = None
    region: str | None = None
    zone: Name | None = None
    """Where the provider's nodes are reachable from: only executors of the
    same zone are given them (none: executors with no zone)."""


class LabelSection(ConfigModel):
    name: Name
    description: str = ""
    min_ready: int = Field(default=0, ge=0)
    max_ready_age: Duration | None = None


#: Debian's own mirror, where `debootstrap` and package steps fetch from.
DEBIAN_MIRROR = "http://deb.debian.org/debian"

#: What a package name may be (Debian policy: lower case, digits, + - .),
#: with an optional architecture or version pin (`foo:amd64`, `foo=1.2-3`).
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?")


def _package_name(text: str) -> str:
    if not _PACKAGE.fullmatch(text):
        raise ValueError(
            f"'{text}' is not a package name: lower-case letters, digits and + - . "
            "(optionally :ARCH or =VERSION)"
        )
    return text


PackageName = Annotated[str, AfterValidator(_package_name)]


def _http_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", text):
        raise ValueError(f"'{text}' is not an http:// or https:// URL")
    return text


def _release_name(text: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", text):
        raise ValueError(f"'{text}' is not a release name (like bookworm or trixie)")
    return text


def _image_path(text: str) -> str:
    if not text.startswith("/") or any(part in (".", "..") for part in text.split("/")):
        raise ValueError(f"'{text}' is not an absolute path in the image (no '.' or '..' parts)")
    return text


class PackagesStep(ConfigModel):
    """Install packages with the image's package manager, from the mirror."""

    packages: list[PackageName] = Field(min_length=1)


class ScriptStep(ConfigModel):
    """Run a shell script as root inside the image. No network unless
    `network` (to reach the package registries)."""

    script: str = Field(min_length=1)
    network: bool = False


class CopySource(ConfigModel):
    source: str = Field(min_length=1)
    """A file or directory, relative to the config file's directory."""
    dest: Annotated[str, AfterValidator(_image_path)]


class CopyStep(ConfigModel):
    """Copy a file or a directory of the config's into the image."""

    copy_: CopySource = Field(alias="copy")


def _step_kind(value: object) -> str | None:
    """Which kind of step a mapping (or a model) is: its first kind's key."""
    if isinstance(value, dict):
        return next((kind for kind in STEP_KINDS if kind in value), None)
    return next((kind for kind, model in STEP_KINDS.items() if isinstance(value, model)), None)


ImageStep = Annotated[
    Annotated[PackagesStep, Tag("packages")]
    | Annotated[ScriptStep, Tag("script")]
    | Annotated[CopyStep, Tag("copy")],
    Discriminator(
        _step_kind,
        custom_error_type="image_step",
        custom_error_message=(
            "a step is one of 'packages: [names]', 'script: TEXT' or "
            "'copy: {source: PATH, dest: /PATH}'"
        ),
    ),
]
STEP_KINDS: dict[str, type[ConfigModel]] = {
    "packages": PackagesStep,
    "script": ScriptStep,
    "copy": CopyStep,
}


class ImageSection(ConfigModel):
    """A recipe: a base, then steps in order. `release`, `variant`, `mirror`
    and `packages` are `debootstrap`'s (the loader refuses them on `host`).
    `cache` lists the projects whose repositories the image holds ("all":
    every project of the site); `providers` the providers that get it
    (none listed: those whose labels boot it)."""

    name: ImageName
    description: str = ""
    base: Literal["host", "debootstrap"] = "host"
    release: Annotated[str, AfterValidator(_release_name)] = "bookworm"
    variant: Literal["minbase", "buildd"] = "minbase"
    mirror: Annotated[str, AfterValidator(_http_url)] = DEBIAN_MIRROR
    packages: list[PackageName] = Field(default_factory=list)
    steps: list[ImageStep] = Field(default_factory=list)
    cache: Literal["all"] | list[Name] = "all"
    providers: list[Name] = Field(default_factory=list)
    rebuild_age: Interval = 24 * 3600.0
    keep_builds: int = Field(default=2, ge=1)

    #: The fields only a `debootstrap` base takes.
    DEBOOTSTRAP_ONLY: ClassVar[tuple[str, ...]] = ("release", "variant", "mirror", "packages")


#: What an S3 bucket may be called (AWS's rules, which MinIO and Ceph share):
#: 3 to 63 lower-case letters, digits, dots and hyphens, a letter or digit at each end.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: One part of a log store's prefix.
_PREFIX_PART = re.compile(r"[A-Za-z0-9_.+-]+")


def _bucket_name(text: str) -> str:
    if not _BUCKET.fullmatch(text) or ".." in text:
        raise ValueError(
            f"'{text}' is not a bucket name: 3 to 63 lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return text


def _object_prefix(text: str) -> str:
    # The prefix starts every object's key: parts like a path's, none empty,
    # so that a build's objects all list under one PREFIX/BUILD/JOB/.
    prefix = text.strip("/")
    if prefix and any(
        part in (".", "..") or not _PREFIX_PART.fullmatch(part) for part in prefix.split("/")
    ):
        raise ValueError(
            f"'{text}' is not a prefix: parts between slashes of letters, digits and . _ + - "
            "(not '.' or '..', none empty)"
        )
    return prefix


def _region_name(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", text):
        raise ValueError(f"'{text}' is not a region name (like us-east-1)")
    return text


#: How much of the builds a web server fetched from the log store it keeps, by default.
KEEP_FETCHED = 2 << 30


class LogsSection(ConfigModel):
    """Where builds' console logs and artifacts are kept: a `directory`
    under the data directory, read where it is (every component on one host),
    or an `s3` bucket at `endpoint-url` (AWS's own when not given; MinIO or
    Ceph at theirs), objects named `prefix/BUILD/JOB/PATH`, signed with the
    keys in `access-key-file` and `secret-key-file`. Old builds' objects are
    for the bucket's own lifecycle rules to expire. A web server keeps the
    builds it fetched from the bucket in its own log root up to
    `keep-fetched` bytes together; past that, a fetch evicts those viewed
    least recently."""

    backend: Literal["directory", "s3"] = "directory"
    bucket: Annotated[str, AfterValidator(_bucket_name)] | None = None
    prefix: Annotated[str, AfterValidator(_object_prefix)] = ""
    endpoint_url: Annotated[str, AfterValidator(_http_url)] | None = None
    region: Annotated[str, AfterValidator(_region_name)] = "us-east-1"
    access_key_file: str | None = None
    secret_key_file: str | None = None
    keep_fetched: Size = KEEP_FETCHED

    SECRET_FILES: ClassVar[tuple[str, ...]] = ("access_key_file", "secret_key_file")
    #: The fields only an `s3` backend takes.
    S3_ONLY: ClassVar[tuple[str, ...]] = (
        "bucket",
        "prefix",
        "endpoint_url",
        "region",
        "access_key_file",
        "secret_key_file",
        "keep_fetched",
    )

    @model_validator(mode="after")
    def _complete(self) -> LogsSection:
        if self.backend == "directory":
            given = [f.replace("_", "-") for f in self.S3_ONLY if f in self.model_fields_set]
            if given:
                keys = given[0] if len(given) == 1 else f"{', '.join(given[:-1])} and {given[-1]}"
                raise ValueError(
                    f"{keys} {'is' if len(given) == 1 else 'are'} for backend s3 (write "
                    "backend: s3; backend directory keeps logs under the data directory)"
                )
            return self
        wanting = []
        if self.bucket is None:
            wanting.append("a bucket (bucket: NAME)")
        if self.access_key_file is None or self.secret_key_file is None:
            # Keys are never looked for elsewhere (~/.aws, the environment, an
            # instance's metadata): what signs the site's requests is in its config.
            wanting.append("its keys (access-key-file and secret-key-file)")
        if wanting:
            raise ValueError("backend s3 needs " + " and ".join(wanting))
        return self


class Trigger(ConfigModel):
    event: Literal[
        "change-created",
        "patchset-created",
        "change-approved",
        "comment-added",
        "change-restored",
        "ref-updated",
        "timer",
    ]
    comment: str | None = None
    branch: str | None = None
    time: str | None = None
    source: str | None = None
    """Only events of this review source."""
    approval: dict[str, int] = Field(default_factory=dict)
    """Votes the event must carry (a comment's): each label at its value or beyond."""

    @field_validator("comment", "branch")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"'{value}' is not a valid regular expression: {exc}") from None
        return value

    @field_validator("time")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            Cron.parse(value)  # raises a ValueError that says what is wrong
        return value

    @model_validator(mode="after")
    def _approval_of_a_comment(self) -> Trigger:
        if self.approval and self.event != "comment-added":
            raise ValueError(
                f"approval is given with a comment: a {self.event} event carries no votes "
                "(use event: comment-added)"
            )
        return self


class Report(ConfigModel):
    vote: int | None = Field(default=None, ge=-2, le=2)
    label: str = Field(default="Verified", min_length=1)
    merge: bool = False
    comment: bool = True


WindowChange = Literal["linear", "exponential"]


class Window(ConfigModel):
    """A dependent queue's window: where it starts, its bounds, and how it
    grows on each merge and shrinks on each failure. A factor left out is 1
    for a linear change and 2 for an exponential one."""

    renamed_keys: ClassVar[dict[str, str]] = {
        "size": "'size' is gone: the window starts at 'start' and grows up to 'ceiling' "
        "(write start: {value} and ceiling: {value} to keep it at {value})",
        "increase": "'increase' is now 'increase-factor' "
        "(added on each merge while 'increase-type' is linear)",
    }

    start: int = Field(default=20, ge=1)
    floor: int = Field(default=3, ge=1)
    ceiling: int | None = Field(default=None, ge=1)
    """None: no ceiling."""
    increase_type: WindowChange = "linear"
    increase_factor: int | None = Field(default=None, ge=0)
    decrease_type: WindowChange = "exponential"
    decrease_factor: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Window:
        wrong: list[str] = []
        if self.start < self.floor:
            wrong.append(
                f"start ({self.start}) is below floor ({self.floor}): "
                f"give a floor of at most {self.start}"
            )
        if self.ceiling is not None and self.ceiling < self.start:
            wrong.append(f"ceiling ({self.ceiling}) is below start ({self.start})")
        for which, kind, factor in (
            ("increase", self.increase_type, self.increase_factor),
            ("decrease", self.decrease_type, self.decrease_factor),
        ):
            # Multiplying or dividing by zero would empty the window.
            if kind == "exponential" and factor is not None and factor < 1:
                wrong.append(f"an exponential {which}-factor must be at least 1, not {factor}")
        if wrong:
            raise ValueError("; ".join(wrong))
        return self


class PipelineSection(ConfigModel):
    name: Name
    description: str = ""
    manager: Literal["independent", "dependent", "serial"]
    precedence: Literal["high", "normal", "low"] = "normal"
    trigger: list[Trigger] = Field(default_factory=list)
    require: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Per review source, the votes its change must hold to enter (each
    label at its value or beyond): `{review: {Code-Review: 2}}`."""
    success: Report = Report()
    failure: Report = Report()
    window: Window = Window()
