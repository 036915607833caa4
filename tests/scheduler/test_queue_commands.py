"""`trunkgate status`, `dequeue` and `promote` against a running scheduler."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from tests.scheduler.harness import SchedulerSite


async def trunkgate(site: SchedulerSite, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkgate.cli.main",
        "-c",
        str(site.directory / "trunkgate.yaml"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_status_dequeue_and_promote(site: SchedulerSite) -> None:
    site.hold.clear()  # builds wait, so the queue stays put while we look
    site.start_scheduler()
    site.start_executor()
    assert site.review is not None
    numbers = [await site.propose(n, f"{n}!\n", f"Edit {n}") for n in ("a.txt", "b.txt", "c.txt")]
    for number in numbers:
        await site.review.approve(number)
    await site.wait_pending(
        lambda builds: {b.change for b in builds if b.pipeline == "gate"} == {1, 2, 3}
    )

    code, out, _ = await trunkgate(site, "status", "--format", "json")
    assert code == 0
    gate = next(p for p in json.loads(out) if p["pipeline"] == "gate")
    (queue,) = gate["queues"]
    assert [item["change"] for item in queue["items"]] == [1, 2, 3]
    assert queue["items"][2]["tree"] == "acme/app~1,1 + acme/app~2,1 + acme/app~3,1"
    assert {job["job"] for job in queue["items"][0]["jobs"]} == {"unit", "lint"}
    assert gate["scheduler"] == site.scheduler.identity
    table = (await trunkgate(site, "status"))[1]
    assert f"gate: 3 item(s), kept by scheduler {site.scheduler.identity}" in table

    code, out, _ = await trunkgate(site, "promote", "--pipeline", "gate", "--change", "3")
    assert code == 0, out
    code, _, _ = await trunkgate(site, "dequeue", "--pipeline", "gate", "--change", "2")
    assert code == 0
    # Dequeued while the builds still wait: reported at once.
    deadline = time.monotonic() + 30
    while not any(c.text.startswith("Dequeued") for c in (await site.change(2)).comments):
        assert time.monotonic() < deadline, "change 2 was never reported dequeued"
        await asyncio.sleep(0.02)
    site.hold.set()
    await site.settled()
    assert await site.results("gate") == {1: "SUCCESS", 2: "DEQUEUED", 3: "SUCCESS"}
    # Promoted: 3 was tested at the head, on nothing but itself.
    (report,) = [c.text for c in (await site.change(3)).comments if "(gate pipeline)" in c.text]
    assert "Tested on: acme/app~3,1\n" in report
    code, _, err = await trunkgate(site, "dequeue", "--pipeline", "nope", "--change", "1")
    assert code == 1
    assert "there is no pipeline 'nope'" in err
    # Merged now: out of every queue, and it cannot come back.
    code, _, err = await trunkgate(site, "dequeue", "--pipeline", "gate", "--change", "1")
    assert (code, err.strip()) == (1, "trunkgate: change 1 is not in pipeline gate (it is merged)")
    code, _, err = await trunkgate(site, "promote", "--pipeline", "gate", "--change", "3")
    assert (code, err.strip()) == (1, "trunkgate: change 3 is not in pipeline gate (it is merged)")
    code, _, err = await trunkgate(site, "enqueue", "--pipeline", "gate", "--change", "1")
    assert (code, err.strip()) == (
        1,
        "trunkgate: change 1 is merged: only an open change can be enqueued",
    )
