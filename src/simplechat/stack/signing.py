"""The local user pool's own signing key: made per process, never moto's shared one.

moto signs every pool's tokens with one private key that ships inside moto, so anyone could
sign a token that passes. Here each stack makes an RSA key of its own at start; moto's tokens
are signed again with it (same claims), and only its public half is published.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any


class LocalSigner:
    """An RS256 key for one running stack: signs tokens, publishes its JWKS."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._private.public_key().public_numbers()
        self._public_jwk = {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
        }
        # The kid is the key's RFC 7638 thumbprint: it names this key and no other.
        members = {k: self._public_jwk[k] for k in ("e", "kty", "n")}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")
        self._public_jwk["kid"] = self.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._public_jwk)]}

    def resign(self, token: str) -> str:
        """The same claims, signed with this key (the signature moto made is discarded)."""
        import jwt

        claims = jwt.decode(token, options={"verify_signature": False})
        return jwt.encode(claims, self._private, algorithm="RS256", headers={"kid": self.kid})


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
