"""`trunkgate images`, `image build NAME`, `image delete NAME BUILD` and
`image log NAME [BUILD]`."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from pathlib import Path

from trunkgate.cli.arguments import record_id
from trunkgate.cli.errors import CliError
from trunkgate.cli.output import print_rows
from trunkgate.cli.pool_cmds import with_store
from trunkgate.config.loader import Config
from trunkgate.images.records import ImageBuild, ImageBuildState
from trunkgate.images.repository import ImageBuildGone, ImageRecords
from trunkgate.listings import image_rows
from trunkgate.store import Store
from trunkgate.untrusted import printable_bytes

IMAGE_COLUMNS = ("image", "build", "provider", "state", "created", "size")
#: The most of a build's log `image log` prints: its end, where a failure is.
LOG_TAIL = 1 << 20


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    images = commands.add_parser("images", help="every image, its builds and their uploads")
    images.add_argument("--format", choices=("table", "json"), default="table")
    images.set_defaults(run=run_images)

    image = commands.add_parser("image", help="build or delete an image's build, read its log")
    actions = image.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="ask the builder for a build of the image now")
    build.add_argument("name")
    build.set_defaults(run=run_image_build)
    delete = actions.add_parser(
        "delete", help="delete a build; new nodes boot the build before it at once"
    )
    delete.add_argument("name")
    delete.add_argument("build", type=record_id)
    delete.set_defaults(run=run_image_delete)
    log = actions.add_parser("log", help="the log of a build (the newest by default)")
    log.add_argument("name")
    log.add_argument("build", type=record_id, nargs="?")
    log.set_defaults(run=run_image_log)


def _known(config: Config, name: str) -> None:
    if name not in config.images:
        known = ", ".join(sorted(config.images)) or "none"
        raise CliError(f"no image named {name!r} in the config (its images: {known})")


def run_images(args: argparse.Namespace) -> int:
    rows = with_store(args, image_rows)
    print_rows(rows, IMAGE_COLUMNS, args.format)
    return 0


def run_image_build(args: argparse.Namespace) -> int:
    async def ask(config: Config, store: Store) -> None:
        _known(config, args.name)
        await ImageRecords(store).ask(args.name)

    with_store(args, ask)
    print(f"trunkgate: a build of image {args.name} is asked for; the builder starts it next")
    return 0


def run_image_delete(args: argparse.Namespace) -> int:
    async def mark(config: Config, store: Store) -> ImageBuild:
        try:
            return await ImageRecords(store).update_build(
                args.name, args.build, state=ImageBuildState.DELETING, now=time.time()
            )
        except ImageBuildGone:
            raise CliError(f"image {args.name} has no build {args.build}") from None
        except ValueError as exc:
            raise CliError(str(exc)) from None

    mark_done = with_store(args, mark)
    print(
        f"trunkgate: image {args.name} build {mark_done.id} is being deleted; new nodes boot "
        "the ready build before it"
    )
    return 0


def run_image_log(args: argparse.Namespace) -> int:
    async def find(config: Config, store: Store) -> ImageBuild:
        builds = await ImageRecords(store).builds(args.name)
        if not builds:
            _known(config, args.name)
            raise CliError(f"image {args.name} has no build yet")
        if args.build is None:
            return max(builds, key=lambda b: (b.created, b.id))
        for build in builds:
            if build.id == args.build:
                return build
        raise CliError(f"image {args.name} has no build {args.build}")

    build = with_store(args, find)
    if build.path is None:
        raise CliError(f"image {args.name} build {build.id} has no log yet")
    if build.builder != socket.gethostname():
        raise CliError(
            f"image {args.name} build {build.id} was built on {build.builder}: its log is "
            f"there, in {build.path}/build.log"
        )
    sys.stdout.write(printable_bytes(asyncio.run(_tail(Path(build.path, "build.log")))))
    return 0


async def _tail(path: Path) -> bytes:
    def read() -> bytes:
        try:
            with open(path, "rb") as file:
                file.seek(0, 2)
                file.seek(max(0, file.tell() - LOG_TAIL))
                return file.read()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from None

    return await asyncio.to_thread(read)
