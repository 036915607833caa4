"""Bearer tokens as the site's HTTP servers take them (the web, an
executor's live consoles)."""

from __future__ import annotations

import hmac


def bearer_matches(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries `token` (compared in constant time)."""
    if token is None or header is None:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(errors="replace"), token.encode())
