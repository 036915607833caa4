"""The DNSSEC signing algorithms zonekeys offers, over `cryptography`: key
generation, the DNSKEY public key field, and raw signatures in DNSSEC's
wire form (RFC 6605: r || s for ECDSA; RFC 8080: Ed25519; RFC 5702:
RSASHA256), and their check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from zonekeys.errors import ZonekeysError

ECDSAP256SHA256: Final = 13
ED25519: Final = 15
RSASHA256: Final = 8

NAMES: Final = {
    ECDSAP256SHA256: "ECDSAP256SHA256",
    ED25519: "ED25519",
    RSASHA256: "RSASHA256",
}
NUMBERS: Final = {name: number for number, name in NAMES.items()}
RSA_BITS = 2048

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

SignFunction = Callable[[bytes], bytes]

_PUBLIC = (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)
_ECDSA = ec.ECDSA(hashes.SHA256())
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def algorithm_number(name: str) -> int:
    try:
        return NUMBERS[name.upper()]
    except KeyError:
        offered = ", ".join(NAMES.values())
        raise ZonekeysError(f"algorithm {name!r} is not one of {offered}") from None


def generate(algorithm: int) -> PrivateKey:
    if algorithm == ECDSAP256SHA256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == RSASHA256:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    raise ZonekeysError(f"algorithm {algorithm} is not supported")


def public_key_field(key: PrivateKey | PublicKey) -> bytes:
    """The DNSKEY record's public key field."""
    public = key if isinstance(key, _PUBLIC) else key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_numbers()
        return point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert isinstance(public, rsa.RSAPublicKey)
    numbers = public.public_numbers()
    exponent = _unsigned(numbers.e)
    if len(exponent) < 256:
        prefix = bytes((len(exponent),))
    else:
        prefix = b"\x00" + len(exponent).to_bytes(2, "big")
    return prefix + exponent + _unsigned(numbers.n)


def public_key_from_field(algorithm: int, field: bytes) -> PublicKey:
    """The public key a DNSKEY record holds (raises ValueError when malformed)."""
    if algorithm == ECDSAP256SHA256:
        if len(field) != 64:
            raise ValueError("an ECDSA P-256 key is 64 bytes")
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(field[:32], "big"), int.from_bytes(field[32:], "big"), ec.SECP256R1()
        ).public_key()
    if algorithm == ED25519:
        return ed25519.Ed25519PublicKey.from_public_bytes(field)
    if algorithm == RSASHA256:
        if field[0]:
            length, rest = field[0], field[1:]
        else:
            length, rest = int.from_bytes(field[1:3], "big"), field[3:]
        exponent, modulus = rest[:length], rest[length:]
        return rsa.RSAPublicNumbers(
            int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")
        ).public_key()
    raise ValueError(f"algorithm {algorithm} is not supported")


def signer(key: PrivateKey) -> SignFunction:
    """A function that signs data in DNSSEC's signature form."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sign_der = key.sign

        def ecdsa(data: bytes) -> bytes:
            r, s = decode_dss_signature(sign_der(data, _ECDSA))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return ecdsa
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    sign_rsa = key.sign
    return lambda data: sign_rsa(data, _PKCS1, _SHA256)


def verifies(public: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, data, _ECDSA)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        else:
            public.verify(signature, data, _PKCS1, _SHA256)
    except InvalidSignature:
        return False
    return True


def _unsigned(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
