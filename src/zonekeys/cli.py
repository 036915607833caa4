"""The `zonekeys` command. Quiet unless something changed or failed (for
cron); every failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import calendar
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from zonekeys.errors import ZonekeysError
from zonekeys.files import one_run_at_a_time
from zonekeys.listing import key_rows, timeline
from zonekeys.manual import import_keys, ksk_roll
from zonekeys.publish import Outcome, add_zone, sign
from zonekeys.zones import KeySnapshot, ZonePaths, list_zones

#: Seconds since the epoch (or YYYYMMDDHHMMSS) to take as now: for trying
#: out what a later run would do, and for tests.
NOW_VARIABLE = "ZONEKEYS_NOW"


#: The commands that change a zones directory: one at a time.
CHANGING = frozenset({"add", "sign", "ksk-roll", "import"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        now = _now()
        if args.command in CHANGING:
            with one_run_at_a_time(args.zones_dir):
                return int(args.run(args, now))
        return int(args.run(args, now))
    except (ZonekeysError, OSError) as exc:
        print(f"zonekeys: {_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line on stderr,
    like every other failure (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("zonekeys").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"zonekeys: {where}{message} (see '{self.prog} --help')\n")


def _message(exc: ZonekeysError | OSError) -> str:
    """The one line for a failure; an OSError names its file."""
    if isinstance(exc, ZonekeysError):
        return str(exc)
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zonekeys", description="DNSSEC keys and zone signing for NSD.")
    parser.add_argument(
        "-d",
        "--zones",
        dest="zones_dir",
        type=Path,
        default=Path(os.environ.get("ZONEKEYS_DIR", ".")),
        help="the zones directory (default: $ZONEKEYS_DIR, else the current directory)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    add = commands.add_parser("add", help="make a new zone's first keys")
    add.add_argument("zone")
    add.set_defaults(run=_add)

    sign_command = commands.add_parser("sign", help="sign the zones that need it, and tell NSD")
    sign_command.add_argument("zones", nargs="*", metavar="ZONE")
    sign_command.add_argument("--force", action="store_true", help="sign even if nothing changed")
    sign_command.set_defaults(run=_sign)

    listing = commands.add_parser("ls", help="the zones' keys, their states and next events")
    listing.add_argument("zone", nargs="?")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.add_argument(
        "--timeline", action="store_true", help="each key's past and coming events, with dates"
    )
    listing.set_defaults(run=_ls)

    roll = commands.add_parser("ksk-roll", help="roll a zone's KSK by double signature, by steps")
    roll.add_argument("step", type=int, choices=(1, 2, 3))
    roll.add_argument("zone")
    roll.add_argument(
        "--check-parent",
        metavar="SERVER[:PORT]",
        help="step 3: first ask this server of the parent zone whether it serves the new DS",
    )
    roll.set_defaults(run=_ksk_roll)

    importing = commands.add_parser(
        "import", help="take over a zone's keys from a ZKT or BIND key directory"
    )
    importing.add_argument("zone")
    importing.add_argument("directory", type=Path)
    importing.set_defaults(run=_import)

    tsig = commands.add_parser("tsig", help="make a TSIG key and print NSD's stanzas for it")
    tsig.add_argument("name")
    tsig.add_argument(
        "--algorithm", default="hmac-sha256", choices=("hmac-sha256", "hmac-sha384", "hmac-sha512")
    )
    tsig.add_argument("--zone", default="example.com.", help="the zone the example stanzas serve")
    tsig.add_argument("--primary", default="192.0.2.1", help="the primary's address")
    tsig.add_argument("--secondary", default="192.0.2.2", help="the secondary's address")
    tsig.set_defaults(run=_tsig)
    return parser


def _now() -> int:
    given = os.environ.get(NOW_VARIABLE)
    if not given:
        return int(time.time())
    if given.isdigit() and len(given) != 14:
        return int(given)
    try:
        return calendar.timegm(time.strptime(given, "%Y%m%d%H%M%S"))
    except ValueError:
        raise ZonekeysError(
            f"{NOW_VARIABLE}={given!r} is neither seconds since 1970 nor YYYYMMDDHHMMSS"
        ) from None


def _add(args: argparse.Namespace, now: int) -> int:
    keys = add_zone(args.zones_dir, args.zone, now)
    paths = ZonePaths.of(args.zones_dir, args.zone)
    for key in keys:
        role = "KSK" if key.sep else "ZSK"
        print(f"{paths.zone}: made {role} {key.name}")
    for key in keys:
        if key.sep:
            due = key.timing.sync_publish or now
            print(
                f"{paths.zone}: once signed and served, hand the parent this DS after "
                f"{_date(due)}:\n{paths.zone} IN DS {key.ds_text()}"
            )
    return 0


def _sign(args: argparse.Namespace, now: int) -> int:
    zones = args.zones or list_zones(args.zones_dir)
    return _each(args.zones_dir, zones, now, force=args.force)


def _each(zones_dir: Path, zones: list[str], now: int, *, force: bool) -> int:
    failed = 0
    for zone in zones:
        try:
            outcome = _sign_or_undo(zones_dir, zone, now, force=force)
        except (ZonekeysError, OSError) as exc:
            print(f"zonekeys: {_message(exc)}", file=sys.stderr)
            failed += 1
            continue
        for line in outcome.said:
            print(f"{outcome.zone}: {line}")
    return 1 if failed else 0


def _sign_or_undo(zones_dir: Path, zone: str, now: int, *, force: bool) -> Outcome:
    """`sign`; one that fails before it publishes leaves the key files as
    they were: a key made or retimed for a signed zone that was never
    published would count as published from a time it was not."""
    paths = ZonePaths.of(zones_dir, zone)
    snapshot = KeySnapshot.take(paths)
    try:
        return sign(zones_dir, zone, now, force=force)
    except BaseException:
        if not snapshot.published_since():
            snapshot.restore()
        raise


def _ls(args: argparse.Namespace, now: int) -> int:
    zones = [args.zone] if args.zone else list_zones(args.zones_dir)
    if args.timeline:
        if not args.zone:
            raise ZonekeysError("ls --timeline takes one ZONE")
        for line in timeline(args.zones_dir, args.zone, now):
            print(line)
        return 0
    rows = [row for zone in zones for row in key_rows(args.zones_dir, zone, now)]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    columns = ("zone", "tag", "role", "algorithm", "state", "age", "next", "when")
    table = [[str(row[c]) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in table)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for cells in table:
        print("  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)).rstrip())
    return 0


def _ksk_roll(args: argparse.Namespace, now: int) -> int:
    done = ksk_roll(args.zones_dir, args.zone, args.step, now, check_parent=args.check_parent)
    for line in done.lines:
        print(line)
    if done.failure is not None:
        print(f"zonekeys: {done.failure}", file=sys.stderr)
        return 1
    return 0


def _import(args: argparse.Namespace, now: int) -> int:
    for line in import_keys(args.zones_dir, args.zone, args.directory, now):
        print(line)
    return 0


def _tsig(args: argparse.Namespace, now: int) -> int:
    from zonekeys import tsig

    key = tsig.make_key(args.name, args.algorithm)
    # The primary serves the file `sign` writes for the zone.
    signed = ZonePaths.of(args.zones_dir, args.zone).signed.absolute()
    text = tsig.render(
        key,
        zone=args.zone,
        primary=args.primary,
        secondary=args.secondary,
        primary_zonefile=str(signed),
    )
    print(text)
    _ = now
    return 0


def _date(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


if __name__ == "__main__":
    sys.exit(main())
