"""The merger: builds each build's speculative tree with real git and puts a
tested tree onto its branch. See `prepare` and `publish`."""

from trunkgate.merger.errors import GitError, MergerError, StaleTree
from trunkgate.merger.model import (
    BranchResult,
    BranchUpdate,
    ChangeSpec,
    MergeConflict,
    MergedTree,
    MergeMode,
    MergeRequest,
    PreparedRepo,
    PreparedTree,
    PrepareResult,
    RepoSpec,
)
from trunkgate.merger.prepare import Merger
from trunkgate.merger.publish import (
    branch_tip,
    export_files,
    export_repo,
    merge_prepared,
    merge_to_branch,
)

__all__ = [
    "BranchResult",
    "BranchUpdate",
    "ChangeSpec",
    "GitError",
    "MergeConflict",
    "MergeMode",
    "MergeRequest",
    "MergedTree",
    "Merger",
    "MergerError",
    "PrepareResult",
    "PreparedRepo",
    "PreparedTree",
    "RepoSpec",
    "StaleTree",
    "branch_tip",
    "export_files",
    "export_repo",
    "merge_prepared",
    "merge_to_branch",
]
