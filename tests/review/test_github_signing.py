"""GitHub's signatures: a delivery is taken only with the webhook secret's
signature over its very body, and an App's token is a JSON Web Token that
GitHub's check (RS256 over header and claims, dated a minute early,
expiring within ten minutes) accepts."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from trunkgate.review.github.signing import (
    AppKeyError,
    app_token,
    delivery_signature,
    signed_by_github,
)

SECRET = b"webhook-secret-of-the-tests"
BODY = b'{"action":"opened","number":5}'


def test_only_the_secrets_signature_over_the_very_body_is_taken() -> None:
    good = delivery_signature(SECRET, BODY)
    assert good.startswith("sha256=")
    assert signed_by_github(SECRET, BODY, good)
    assert not signed_by_github(SECRET, BODY + b" ", good)  # the body changed
    assert not signed_by_github(b"another-secret", BODY, good)
    for header in (None, "", "sha1=" + good[7:], good.upper(), good[:-1], "sha256="):
        assert not signed_by_github(SECRET, BODY, header), header
    assert not signed_by_github(b"", BODY, delivery_signature(b"", BODY))  # no secret, no trust


def unpadded(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_an_apps_token_is_a_jwt_github_would_accept() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = app_token(12345, pem, now=1_800_000_000.7)
    header, claims, signature = token.split(".")
    assert json.loads(unpadded(header)) == {"alg": "RS256", "typ": "JWT"}
    assert json.loads(unpadded(claims)) == {
        "iat": 1_800_000_000 - 60,
        "exp": 1_800_000_000 + 540,
        "iss": "12345",
    }
    key.public_key().verify(
        unpadded(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            unpadded(signature),
            f"{header}.{claims}x".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )


def test_a_key_that_cannot_sign_for_an_app_says_why() -> None:
    with pytest.raises(AppKeyError, match="not a PEM private key"):
        app_token(1, b"-----BEGIN NOTHING-----", now=0)
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(AppKeyError, match="RSA"):
        app_token(1, ec_key, now=0)
