"""Local users keep their `sub` across restarts: conversations are kept under it.

moto's Cognito lives in memory and gives every user a random `sub`, so after a restart of the
local stack the same email would be a stranger to its own conversations. Here the `sub` of a
local user is derived from the pool's name and the email (a UUID, as Cognito's are); real
Cognito is not touched by this.
"""

from __future__ import annotations

import uuid
from typing import Any

#: The namespace of local subs: uuid5(this, "<pool name>/<email>").
LOCAL_SUBS = uuid.UUID("7f0c5d0e-4c1b-4f0e-9a43-5e0f6c2a9b11")
_installed = False


def stable_sub(pool_name: str, email: str) -> str:
    return str(uuid.uuid5(LOCAL_SUBS, f"{pool_name}/{email.strip().lower()}"))


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
        pool = _pool(backend_of, user_pool_id)
        sub = stable_sub(pool.name if pool is not None else user_pool_id, email)
        if self.username == self.id:  # moto names email-username users by their sub
            self.username = sub
        self.id = sub
        self.update_attributes([{"Name": "sub", "Value": sub}])

    models.CognitoIdpUser.__init__ = init
    _installed = True


def _pool(backends: Any, user_pool_id: str) -> Any:
    for account in backends.values():
        for backend in account.values():
            pool = backend.user_pools.get(user_pool_id)
            if pool is not None:
                return pool
    return None
