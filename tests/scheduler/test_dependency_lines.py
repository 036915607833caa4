"""Depends-On lines as people write them: anywhere in a message, any case,
with the line endings of GitHub's web page, each URL once."""

from __future__ import annotations

from trunkgate.scheduler.dependencies import MOST_NEEDED, depends_on


def test_lines_are_found_with_any_line_ending_and_case() -> None:
    message = (
        "Use the new parser\r\n\r\nIt needs the library first.\r\n"
        "Depends-On: https://review.example.org/c/acme/lib/+/12\r\n"
        "depends-on:   https://github.com/acme/app/pull/7  \r\n"
        "Depends-On: https://review.example.org/c/acme/lib/+/12\r\n"
        "Not-Depends-On: https://example.org/x\n"
    )
    assert depends_on(message) == [
        "https://review.example.org/c/acme/lib/+/12",
        "https://github.com/acme/app/pull/7",
    ]


def test_a_url_inside_a_sentence_is_not_a_dependency() -> None:
    assert depends_on("See Depends-On: lines below\nDepends-On:\n") == []


def test_no_more_urls_than_the_limit_are_read() -> None:
    message = "\n".join(f"Depends-On: https://x.example.org/change/{n}" for n in range(50))
    assert len(depends_on(message)) == MOST_NEEDED
