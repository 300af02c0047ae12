"""Local users keep their `sub` across restarts, and nobody can work it out from the email.

moto's Cognito lives in memory and gives every user a random `sub`, so after a restart of the
local stack the same email would be a stranger to its own conversations. Here the `sub` of a
local user is a keyed hash (HMAC-SHA256) of the pool's name and the email, under a secret kept
in the stack's data folder (owner-only): stable across restarts, unguessable without the
secret. Real Cognito is not touched by this.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path
from typing import Any

#: The secret's file in the data folder.
SECRET_FILE = "local-subs.key"
_installed = False
_secret: bytes = secrets.token_bytes(32)  # until `use_secret`: subs last as long as the process


def stable_sub(pool_name: str, email: str) -> str:
    digest = hmac.new(_secret, f"{pool_name}/{email.strip().lower()}".encode(), hashlib.sha256)
    return str(uuid.UUID(bytes=digest.digest()[:16], version=4))


def load_secret(folder: Path) -> bytes:
    """The data folder's secret, made (readable by its owner only) the first time."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_bytes(32)
        # O_EXCL: two stacks starting at once on one folder do not write two secrets.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as file:
            file.write(secret)
    if len(secret) < 32:
        raise ValueError(f"{path} is damaged (shorter than 32 bytes); remove it to make a new one")
    return secret


def use_secret(secret: bytes) -> None:
    global _secret
    _secret = secret


def install() -> None:
    """Wraps moto's user model once per process (the local pool runs in this process)."""
    global _installed
    if _installed:
        return
    from moto.cognitoidp import models

    backend_of = models.cognitoidp_backends
    original = models.CognitoIdpUser.__init__

    def init(self: Any, user_pool_id: str, username: str | None, *args: Any, **kwargs: Any) -> None:
        original(self, user_pool_id, username, *args, **kwargs)
        email = self.attribute_lookup.get("email") or username
        if not email:
            return
        pool = find_pool(backend_of, user_pool_id)
        sub = stable_sub(pool.name if pool is not None else user_pool_id, email)
        if self.username == self.id:  # moto names email-username users by their sub
            self.username = sub
        self.id = sub
        self.update_attributes([{"Name": "sub", "Value": sub}])

    models.CognitoIdpUser.__init__ = init
    _installed = True


def find_pool(backends: Any, user_pool_id: str) -> Any:
    """moto's in-memory pool object (this process runs moto's server)."""
    for account in backends.values():
        for backend in account.values():
            pool = backend.user_pools.get(user_pool_id)
            if pool is not None:
                return pool
    return None
