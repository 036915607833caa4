"""The review source's exceptions: each carries a message fit to show the
person who asked for the action."""

from __future__ import annotations


class ReviewError(Exception):
    """An action on a change that cannot be done, and why."""


class ChangeNotFound(ReviewError):
    pass


class UnknownProject(ReviewError):
    pass


class ProposeRejected(ReviewError):
    """A commit that cannot become a change or patchset: already merged,
    identical to the last patchset, on a branch that does not exist."""


class InvalidTransition(ReviewError):
    """A status move that is not in the table (`review.model.TRANSITIONS`)."""


class SourceUnavailable(Exception):
    """The review system did not answer (down, overloaded, our credentials
    refused): nothing about the change, so tried again later, never
    reported as the change's fault. Not a ReviewError on purpose."""
