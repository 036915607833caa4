"""A local review source kept entirely in files under one data directory:
repositories in `<data>/git`, changes and events in `<data>/review`. What
the push hook opens by default, and what tests use."""

from __future__ import annotations

from pathlib import Path

from trunkgate.review.filestore import JsonChangeStore, JsonlEventSink
from trunkgate.review.source import LocalReview

FACTORY = "trunkgate.review.site:open_file_review"


def open_file_review(data_dir: str | Path) -> LocalReview:
    data = Path(data_dir).resolve()
    return LocalReview(
        data / "git",
        JsonChangeStore(data / "review"),
        JsonlEventSink(data / "review"),
        work_dir=data / "review-merger",
        hook=(FACTORY, str(data)),
    )
