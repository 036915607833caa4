"""The local review source: changes on bare git repositories under the data
directory, reviewed with votes and comments, and merged by the merger. See
`source.LocalReview` for the operations and `hook` for `git push`."""

from trunkgate.review.codec import (
    SCHEMA_VERSION,
    change_from_dict,
    change_listing,
    change_to_dict,
)
from trunkgate.review.errors import (
    ChangeNotFound,
    InvalidTransition,
    ProposeRejected,
    ReviewError,
    UnknownProject,
)
from trunkgate.review.events import EventKind, EventList, EventSink, ReviewEvent
from trunkgate.review.filestore import JsonChangeStore, JsonlEventSink
from trunkgate.review.model import (
    APPROVED,
    CLOSED,
    OPEN,
    TRANSITIONS,
    VERIFIED,
    Change,
    ChangeStatus,
    Comment,
    Patchset,
    Vote,
    change_ref,
)
from trunkgate.review.repos import repo_path
from trunkgate.review.site import open_file_review
from trunkgate.review.source import LocalReview, Proposed, TreeToMerge
from trunkgate.review.store import ChangeStore, MemoryChangeStore

__all__ = [
    "APPROVED",
    "CLOSED",
    "OPEN",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "VERIFIED",
    "Change",
    "ChangeNotFound",
    "ChangeStatus",
    "ChangeStore",
    "Comment",
    "EventKind",
    "EventList",
    "EventSink",
    "InvalidTransition",
    "JsonChangeStore",
    "JsonlEventSink",
    "LocalReview",
    "MemoryChangeStore",
    "Patchset",
    "ProposeRejected",
    "Proposed",
    "ReviewError",
    "ReviewEvent",
    "TreeToMerge",
    "UnknownProject",
    "Vote",
    "change_from_dict",
    "change_listing",
    "change_ref",
    "change_to_dict",
    "open_file_review",
    "repo_path",
]
