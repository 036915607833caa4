"""What a re-read after a dropped connection says about a compare-and-set."""

from __future__ import annotations

import pytest

from trunkgate.store import StoreError, VersionConflict
from trunkgate.store.zookeeper.landing import UNSENT, set_outcome


def test_a_record_still_at_its_version_was_not_written() -> None:
    assert set_outcome("/r", b"old", 3, b"new", 3) is UNSENT


def test_a_record_one_version_on_holding_our_bytes_was_written_by_us() -> None:
    assert set_outcome("/r", b"new", 4, b"new", 3) == 4


def test_another_writer_got_there_first() -> None:
    with pytest.raises(VersionConflict):
        set_outcome("/r", b"theirs", 4, b"new", 3)


def test_a_record_moved_on_further_cannot_tell() -> None:
    with pytest.raises(StoreError, match="may or may not have been applied"):
        set_outcome("/r", b"new", 6, b"new", 3)


def test_a_blind_write_is_sent_again_unless_the_record_says_it_already() -> None:
    assert set_outcome("/r", b"old", 7, b"new", None) is UNSENT
    assert set_outcome("/r", b"new", 7, b"new", None) == 7
