"""How fast zonekeys signs a large zone, against ldns-signzone (C, Debian's
ldnsutils) on the same zone with the same keys in the same run: a zone of
100,000 names with an A and a TXT record each, ECDSAP256SHA256, NSEC3 (no
extra iterations, empty salt). Each signer reads the unsigned file and
writes the signed one; RRSIGs per second are counted from its output.
zonekeys's check of the signed zone before publishing (every signature
verified again) is timed apart and reported as `zonekeys_verify_per_s`.
Prints one JSON object.

    .venv/bin/python bench/zonekeys_sign.py [--names 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from zonekeys.assemble import add_denial, add_keys
from zonekeys.denial import Nsec3Settings
from zonekeys.keyfiles import KSK_FLAGS, ZSK_FLAGS, Timing, new_key, write_key
from zonekeys.signing import Signers, Validity, sign_zone
from zonekeys.verify import verify_signed_zone
from zonekeys.zonefile import read_zone

ORIGIN = "bench.example."
VALIDITY = 30 * 86400


def write_zone(path: Path, names: int) -> None:
    lines = [
        f"$ORIGIN {ORIGIN}",
        "$TTL 3600",
        "@ IN SOA ns1 hostmaster 1 7200 3600 864000 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.1",
    ]
    for i in range(names):
        lines.append(f"h{i} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        lines.append(f'h{i} IN TXT "host {i} of the benchmark zone"')
    path.write_text("\n".join(lines) + "\n")


def count_rrsigs(path: Path) -> int:
    count = 0
    with path.open(encoding="utf-8") as signed:
        for line in signed:
            fields = line.split(None, 4)
            if len(fields) > 3 and fields[3] == "RRSIG":
                count += 1
    return count


def measure(names: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        unsigned = directory / "zone.db"
        write_zone(unsigned, names)
        now = int(time.time())
        timing = Timing(created=now, publish=now, activate=now)
        ksk = new_key(ORIGIN, 13, KSK_FLAGS, directory, timing)
        zsk = new_key(ORIGIN, 13, ZSK_FLAGS, directory, timing)
        write_key(ksk)
        write_key(zsk)

        ours = directory / "zonekeys.signed"
        started = time.perf_counter()
        zone = read_zone(unsigned, ORIGIN)
        add_keys(zone, [ksk, zsk], [ksk], 3600)
        add_denial(zone, Nsec3Settings())
        signed = sign_zone(zone, Signers((zsk,), (ksk,)), Validity(now - 3600, now + VALIDITY))
        signed.write(ours)  # as publish.py writes it: atomically, flushed to disk
        zonekeys_s = time.perf_counter() - started

        started = time.perf_counter()
        report = verify_signed_zone(signed.text, ORIGIN, now=now, ds_set=[ksk.ds_text()])
        verify_s = time.perf_counter() - started

        theirs = directory / "ldns.signed"
        started = time.perf_counter()
        subprocess.run(
            [
                "ldns-signzone",
                "-n",
                "-t",
                "0",
                "-o",
                ORIGIN,
                "-f",
                str(theirs),
                "-e",
                str(now + VALIDITY),
                str(unsigned),
                str(directory / ksk.base),
                str(directory / zsk.base),
            ],
            check=True,
            capture_output=True,
        )
        ldns_s = time.perf_counter() - started

        ours_count, theirs_count = count_rrsigs(ours), count_rrsigs(theirs)
        assert ours_count == signed.rrsigs
        ours_rate, theirs_rate = ours_count / zonekeys_s, theirs_count / ldns_s
        return {
            "names": names,
            "zonekeys_rrsig_per_s": round(ours_rate),
            "ldns_rrsig_per_s": round(theirs_rate),
            "ratio": round(ours_rate / theirs_rate, 2),
            "zonekeys_s": round(zonekeys_s, 2),
            "ldns_s": round(ldns_s, 2),
            "zonekeys_rrsigs": ours_count,
            "ldns_rrsigs": theirs_count,
            "zonekeys_verify_per_s": round(report.rrsigs / verify_s),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(measure(args.names)))


if __name__ == "__main__":
    main()
