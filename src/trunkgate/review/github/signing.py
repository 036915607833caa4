"""GitHub's signatures, both ways: a webhook delivery's `X-Hub-Signature-256`
checked against the webhook secret, and the JSON Web Token a GitHub App
signs with its private key to ask for installation tokens. Pure, the time
given."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

SIGNATURE_HEADER = "X-Hub-Signature-256"
#: GitHub takes an App's token for at most 10 minutes; it is dated a minute
#: early against clocks that differ.
JWT_LIFETIME_S = 9 * 60
JWT_BACKDATE_S = 60


class AppKeyError(ValueError):
    """The App's private key cannot sign; the message says why."""


def delivery_signature(secret: bytes, body: bytes) -> str:
    """What GitHub sends in X-Hub-Signature-256 for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signed_by_github(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether a delivery's signature header is the secret's over its body
    (compared in constant time; a missing or malformed header is not)."""
    if not header or not header.startswith("sha256=") or not secret:
        return False
    return hmac.compare_digest(header.encode(), delivery_signature(secret, body).encode())


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_token(app_id: int, private_key_pem: bytes, now: float) -> str:
    """The App's JSON Web Token (RS256), valid from a minute before `now`
    for nine minutes."""
    try:
        key = load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise AppKeyError(f"not a PEM private key without a passphrase: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AppKeyError("a GitHub App's key is RSA; this one is not")
    header = _segment(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {
        "iat": int(now) - JWT_BACKDATE_S,
        "exp": int(now) + JWT_LIFETIME_S,
        "iss": str(app_id),
    }
    payload = _segment(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_segment(signature)}"
