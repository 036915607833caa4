"""The REST API over HTTP, against a running `trunkgate serve --components web`:
the listings under the command line's field names, builds searched and paged,
a build with its tree, nodes and console, a change with its builds."""

from __future__ import annotations

import json

from tests.web.site import FAILING_LINE, QUEUE_LENGTH, WebSite, cli


def test_status_holds_every_item_of_a_long_queue_with_the_cli_field_names(
    web_site: WebSite,
) -> None:
    status, body, headers = web_site.get("/api/status")
    assert status == 200
    assert headers["content-type"] == "application/json"
    gate = next(p for p in body if p["pipeline"] == "gate")
    items = gate["queues"][0]["items"]
    assert len(items) == QUEUE_LENGTH
    assert [i["position"] for i in items[:3]] == [1, 2, 3]
    assert items[136]["failing"] is True
    assert items[135]["failing"] is False
    shown = json.loads(cli("-c", str(web_site.config), "status", "--format", "json").stdout)
    cli_item = next(p for p in shown if p["pipeline"] == "gate")["queues"][0]["items"][0]
    assert set(cli_item) <= set(items[0])
    assert set(cli_item["jobs"][0]) <= set(items[0]["jobs"][0])
    assert {p["pipeline"] for p in body} == {"check", "gate", "post", "periodic"}


def test_builds_are_searched_by_each_filter_and_paged(web_site: WebSite) -> None:
    _, everything, _ = web_site.get("/api/builds?limit=500")
    assert len(everything["builds"]) == 63
    assert not everything["more"]
    _, failed, _ = web_site.get("/api/builds?result=FAILURE")
    assert [b["id"] for b in failed["builds"]] == [web_site.builds["failed"]]
    _, nodes, _ = web_site.get("/api/builds?result=NODE_FAILURE&node_provider=local-b")
    assert len(nodes["builds"]) == 15
    _, by_change, _ = web_site.get("/api/builds?change=1&project=example/calc")
    assert {b["job"] for b in by_change["builds"]} == {"unit-3.11", "style"}
    _, first, _ = web_site.get("/api/builds?job=unit&limit=25")
    _, second, _ = web_site.get("/api/builds?job=unit&limit=25&offset=25")
    assert first["more"]
    assert len(second["builds"]) == 25
    assert not {b["id"] for b in first["builds"]} & {b["id"] for b in second["builds"]}
    assert first["builds"][0]["started"] > second["builds"][0]["started"]  # newest first
    _, window, _ = web_site.get("/api/builds?since=2026-11-30T22:00&until=2026-12-01T02:00")
    assert len(window["builds"]) == 4
    listed = json.loads(
        cli("-c", str(web_site.config), "builds", "--format", "json", "--limit", "1").stdout
    )[0]
    assert set(listed) <= set(everything["builds"][0])


def test_a_bad_search_is_refused_with_what_is_wrong(web_site: WebSite) -> None:
    for query, said in (
        ("result=BROKEN", "result: 'BROKEN' is not one of"),
        ("change=seven", "change: 'seven' is not a whole number"),
        ("limit=100000", "limit: 100000 is not between 1 and 500"),
        ("since=yesterday", "since: 'yesterday' is not an ISO 8601 time"),
        ("project=" + "x" * 300, "project: at most 255 characters"),
    ):
        status, body, _ = web_site.get(f"/api/builds?{query}")
        assert status == 400, query
        assert said in body["error"], body


def test_a_build_has_its_tree_nodes_and_held_nodes(web_site: WebSite) -> None:
    status, build, _ = web_site.get(f"/api/builds/{web_site.builds['failed']}")
    assert status == 200
    assert build["result"] == "FAILURE"
    assert build["duration"] == 75.0
    assert build["error"] == "run step 1/1 on primary exited 1"
    [repo] = build["tree"]
    assert repo["project"] == "example/calc"
    assert repo["subject"]
    assert build["nodes"] == [
        {
            "name": "primary",
            "label": "default",
            "node_id": "0000000007",
            "image": "example",
            "image_build": "0000000003",
        }
    ]
    assert build["raw_console"] == f"/builds/{build['id']}/console.log"
    assert web_site.get("/api/builds/0123abcd")[0] == 404
    assert web_site.get("/api/builds/not-an-id!")[0] == 404


def test_the_console_is_paged_and_its_last_page_has_the_failing_line(web_site: WebSite) -> None:
    path = f"/api/builds/{web_site.builds['failed']}/console"
    _, last, _ = web_site.get(path + "?count=100")
    assert last["total"] == 2601
    assert last["first"] == 2502
    assert FAILING_LINE in last["lines"][-2]
    assert "\x1b[31m" in last["lines"][-2]  # colours kept for the page to render
    _, middle, _ = web_site.get(path + "?first=1500&count=3")
    assert [line.split(" test ")[-1] for line in middle["lines"]] == ["1500", "1501", "1502"]
    _, beyond, _ = web_site.get(path + "?first=99999&count=5")
    assert beyond["first"] == 2601
    status, raw, headers = web_site.get(f"/builds/{web_site.builds['failed']}/console.log")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert raw.decode().count("\n") == 2601


def test_a_change_has_its_patchsets_votes_builds_and_queue_places(web_site: WebSite) -> None:
    status, change, _ = web_site.get("/api/changes/1")
    assert status == 200
    assert change["project"] == "example/calc"
    assert change["status"] == "NEW"
    assert [p["patchset"] for p in change["patchsets"]] == [1]
    assert {b["job"] for b in change["builds"]["check"]} == {"unit-3.11", "style"}
    assert change["queues"] == []
    status, missing, _ = web_site.get("/api/changes/99")
    assert status == 404
    assert "99" in missing["error"]


def test_the_pool_listings_use_the_cli_field_names(web_site: WebSite) -> None:
    for path, command in (("/api/requests", "requests"), ("/api/images", "images")):
        status, body, _ = web_site.get(path)
        assert status == 200, path
        shown = json.loads(cli("-c", str(web_site.config), command, "--format", "json").stdout)
        assert len(body) == len(shown)
        for ours, theirs in zip(body, shown, strict=True):
            assert set(theirs) <= set(ours)
    status, nodes, _ = web_site.get("/api/nodes")
    assert status == 200
    assert nodes == []


def test_providers_show_failure_rates_and_the_one_that_stands_out(web_site: WebSite) -> None:
    status, body, _ = web_site.get("/api/providers?days=90")
    assert status == 200
    assert {p["provider"] for p in body["providers"]} == {"local-a", "local-b"}
    rates = {(r["scope"], r["name"]): r for r in body["rates"]}
    assert rates[("provider", "local-b")]["builds"] == 61
    assert rates[("provider", "local-b")]["failures"] == 15
    _, metrics, _ = web_site.get("/metrics")
    assert b'trunkgate_failure_rate{name="local-b",scope="provider"}' in metrics


def test_the_openapi_document_names_every_api_path(web_site: WebSite) -> None:
    status, document, _ = web_site.get("/api/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    for path in (
        "/api/status",
        "/api/builds",
        "/api/builds/{id}",
        "/api/builds/{id}/console/events",
        "/api/changes/{number}",
        "/api/nodes/{id}/hold",
    ):
        assert path in document["paths"], path
    assert document["paths"]["/api/enqueue"]["post"]["security"] == [{"admin": []}]


def test_config_errors_name_file_line_and_column_and_the_site_keeps_serving(
    web_site: WebSite,
) -> None:
    _, fine, _ = web_site.get("/api/config-errors")
    assert fine["errors"] == []
    good = web_site.config.read_text()
    try:
        web_site.config.write_text(good.replace("max-servers: 6", "max-servers: many", 1))
        _, broken, _ = web_site.get("/api/config-errors")
        [problem] = broken["errors"]
        assert problem["file"].endswith("trunkgate.yaml")
        assert problem["line"] > 1
        assert "max-servers" in problem["message"] or "integer" in problem["message"]
        assert web_site.get("/api/status")[0] == 200
    finally:
        web_site.config.write_text(good)
