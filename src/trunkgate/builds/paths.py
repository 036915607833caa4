"""Where build requests, their answers and their claims live in the store."""

from __future__ import annotations

BUILDS = "/builds"
BUILD_REQUESTS = f"{BUILDS}/requests"
BUILD_RESULTS = f"{BUILDS}/results"
BUILD_LOCKS = f"{BUILDS}/locks"
#: Where each running build's live console is served: ephemeral, its executor's.
BUILD_CONSOLES = f"{BUILDS}/consoles"


def build_request(build_id: str) -> str:
    return f"{BUILD_REQUESTS}/{build_id}"


def build_result(build_id: str) -> str:
    return f"{BUILD_RESULTS}/{build_id}"


def build_lock(build_id: str) -> str:
    return f"{BUILD_LOCKS}/{build_id}"


def build_console(build_id: str) -> str:
    return f"{BUILD_CONSOLES}/{build_id}"
