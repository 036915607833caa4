"""Contract: records, versions, compare-and-set, sequential names, children, typed values."""

from __future__ import annotations

import dataclasses

import pydantic
import pytest

from trunkgate.store import (
    NoRecord,
    NotEmpty,
    Record,
    RecordExists,
    Store,
    StoreError,
    VersionConflict,
)

from .conftest import OpenStore


async def test_a_created_record_reads_back_with_version_zero(store: Store) -> None:
    value = {"state": "ready", "ports": [22, 80], "weight": 0.5, "held": False, "note": None}
    assert await store.create("/nodes/n1", value) == "/nodes/n1"
    assert await store.get("/nodes/n1") == Record("/nodes/n1", value, 0)


@pytest.mark.parametrize("value", [None, True, 7, -1.25, "text", [1, "two"], {"a": {"b": []}}])
async def test_every_kind_of_json_value_round_trips(store: Store, value: object) -> None:
    await store.create("/v", value)  # type: ignore[arg-type]
    record = await store.get("/v")
    assert record is not None
    assert record.value == value


async def test_missing_record_reads_as_none(store: Store) -> None:
    assert await store.get("/nowhere") is None


async def test_create_makes_missing_parents_empty(store: Store) -> None:
    await store.create("/a/b/c", 1)
    assert await store.get("/a") == Record("/a", None, 0)
    assert await store.children("/a") == ["b"]


async def test_creating_twice_is_refused(store: Store) -> None:
    await store.create("/x", 1)
    with pytest.raises(RecordExists) as raised:
        await store.create("/x", 2)
    assert raised.value.path == "/x"
    assert (await store.get("/x")) == Record("/x", 1, 0)


async def test_sequential_names_are_unique_and_ordered(store: Store) -> None:
    made = [await store.create("/requests/r-", {"n": n}, sequential=True) for n in range(12)]
    assert len(set(made)) == 12
    assert made == sorted(made)
    for path in made:
        suffix = path.removeprefix("/requests/r-")
        assert len(suffix) == 10
        assert suffix.isdigit()
    names = await store.children("/requests")
    assert [f"/requests/{n}" for n in names] == made


async def test_a_sequential_record_may_be_named_by_its_number_alone(store: Store) -> None:
    first = await store.create("/nodes/", {"n": 1}, sequential=True)
    second = await store.create("/nodes/", {"n": 2}, sequential=True)
    assert first.startswith("/nodes/")
    assert first.removeprefix("/nodes/").isdigit()
    assert first < second
    assert await store.children("/nodes") == [first[7:], second[7:]]


async def test_compare_and_set_moves_the_version(store: Store) -> None:
    await store.create("/c", 0)
    assert await store.set("/c", 1, version=0) == 1
    assert await store.set("/c", 2, version=1) == 2
    assert await store.get("/c") == Record("/c", 2, 2)


async def test_a_stale_version_is_a_conflict_and_writes_nothing(store: Store) -> None:
    await store.create("/c", 0)
    await store.set("/c", 1, version=0)
    with pytest.raises(VersionConflict) as raised:
        await store.set("/c", 99, version=0)
    assert raised.value.path == "/c"
    assert await store.get("/c") == Record("/c", 1, 1)


async def test_set_without_version_always_writes(store: Store) -> None:
    await store.create("/c", 0)
    await store.set("/c", 1, version=0)
    assert await store.set("/c", 5, version=None) == 2


async def test_setting_a_missing_record_is_no_record(store: Store) -> None:
    with pytest.raises(NoRecord):
        await store.set("/missing", 1, version=None)


async def test_delete_checks_version_and_children(store: Store) -> None:
    await store.create("/d/child", 1)
    await store.set("/d", "x", version=0)
    with pytest.raises(NotEmpty):
        await store.delete("/d")
    with pytest.raises(VersionConflict):
        await store.delete("/d", version=0, recursive=True)
    await store.delete("/d", version=1, recursive=True)
    assert await store.get("/d") is None
    assert await store.get("/d/child") is None
    with pytest.raises(NoRecord):
        await store.delete("/d")


async def test_recursive_delete_takes_the_whole_tree_only(store: Store) -> None:
    for path in ["/t/a/1", "/t/a/2", "/t/b", "/tt/keep", "/t-keep"]:
        await store.create(path, path)
    await store.delete("/t", recursive=True)
    assert await store.children("/") == ["t-keep", "tt"]
    assert await store.get("/tt/keep") is not None


async def test_children_are_sorted_names(store: Store) -> None:
    for name in ["b", "a", "c-1", "c"]:
        await store.create(f"/p/{name}", None)
    await store.create("/p/a/deeper", None)
    assert await store.children("/p") == ["a", "b", "c", "c-1"]
    assert await store.children("/") == ["p"]
    with pytest.raises(NoRecord):
        await store.children("/nope")


async def test_children_are_read_together_with_their_values_and_versions(store: Store) -> None:
    await store.create("/nodes/b", {"state": "ready"})
    await store.create("/nodes/a", [1, 2])
    await store.set("/nodes/a", [3], version=0)
    await store.create("/nodes/a/below", "not a child of /nodes")
    await store.create("/other/c", 3)
    assert await store.read_children("/nodes") == [
        Record("/nodes/a", [3], 1),
        Record("/nodes/b", {"state": "ready"}, 0),
    ]
    assert await store.read_children("/nodes/b") == []
    with pytest.raises(NoRecord):
        await store.read_children("/missing")


@pytest.mark.parametrize("path", ["", "x", "/x/", "//x", "/x//y", "/x/../y", "/x/./y", "/a\nb"])
async def test_bad_paths_are_refused(store: Store, path: str) -> None:
    with pytest.raises(StoreError, match="invalid record path"):
        await store.create(path, 1)


async def test_the_root_is_not_a_record(store: Store) -> None:
    with pytest.raises(StoreError, match="root"):
        await store.set("/", 1, version=None)
    with pytest.raises(StoreError, match="root"):
        await store.delete("/", recursive=True)


async def test_a_value_that_is_not_json_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="not JSON"):
        await store.create("/bad", {"when": object()})  # type: ignore[dict-item]
    with pytest.raises(StoreError, match="not JSON"):
        await store.create("/bad", float("nan"))
    assert await store.get("/bad") is None


class NodeModel(pydantic.BaseModel):
    id: str
    labels: list[str]
    state: str = "building"


@dataclasses.dataclass(frozen=True)
class HoldRequest:
    node: str
    reason: str
    hours: int


async def test_pydantic_models_and_dataclasses_are_stored_as_json(store: Store) -> None:
    await store.create("/nodes/n1", NodeModel(id="n1", labels=["debian"]))
    await store.create("/holds/h1", HoldRequest("n1", "look at the failure", 24))

    raw = await store.get("/nodes/n1")
    assert raw is not None
    assert raw.value == {"id": "n1", "labels": ["debian"], "state": "building"}

    node = await store.get_model("/nodes/n1", NodeModel)
    assert node == Record("/nodes/n1", NodeModel(id="n1", labels=["debian"]), 0)
    hold = await store.get_model("/holds/h1", HoldRequest)
    assert hold is not None
    assert hold.value == HoldRequest("n1", "look at the failure", 24)

    await store.set("/nodes/n1", node.value.model_copy(update={"state": "ready"}), version=0)
    updated = await store.get_model("/nodes/n1", NodeModel)
    assert updated is not None
    assert updated.value.state == "ready"
    assert await store.get_model("/nowhere", NodeModel) is None


async def test_a_record_that_does_not_fit_the_model_says_so(store: Store) -> None:
    await store.create("/nodes/n2", {"id": 5})
    with pytest.raises(StoreError, match=r"/nodes/n2 is not a valid NodeModel"):
        await store.get_model("/nodes/n2", NodeModel)


async def test_another_session_sees_the_same_records(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    await store.create("/shared", {"from": "first"})
    assert await other.get("/shared") == Record("/shared", {"from": "first"}, 0)
    await other.set("/shared", {"from": "second"}, version=0)
    assert await store.get("/shared") == Record("/shared", {"from": "second"}, 1)
    assert store.session_id
    assert other.session_id
    assert store.session_id != other.session_id


async def test_a_closed_store_refuses_work(open_store: OpenStore) -> None:
    store = await open_store()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get("/x")


async def test_update_changes_the_newest_value_even_when_another_writes_between(
    store: Store, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await open_store()
    await store.create("/holds/h2", Claim("n1", "first", 1))
    write = store.set
    writes: list[int | None] = []

    async def another_writes_first(path: str, value: object, *, version: int | None) -> int:
        # The first write finds the record changed since it was read.
        if not writes:
            await other.set(path, Claim("n1", "theirs", 5), version=None)
        writes.append(version)
        return await write(path, value, version=version)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "set", another_writes_first)

    def lengthen(hold: Claim) -> None:
        hold.hours += 10

    updated = await store.update("/holds/h2", Claim, lengthen)
    assert updated == Claim("n1", "theirs", 15)
    assert writes == [0, 1]
    stored = await other.get_model("/holds/h2", Claim)
    assert stored is not None
    assert stored.value == Claim("n1", "theirs", 15)
    assert await store.update("/holds/none", Claim, lengthen) is None


@dataclasses.dataclass
class Claim:
    node: str
    reason: str
    hours: int
