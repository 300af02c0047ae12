"""`/presets[/{id}]`: a user's saved instructions, listed, saved, changed, deleted."""

from __future__ import annotations

from typing import Any

from chat_gateway.chat_request import load_object
from chat_gateway.config import Config
from chat_gateway.conversation_api import check_allowed
from chat_gateway.errors import GatewayError
from chat_gateway.events import HttpRequest
from chat_gateway.store import ConversationStore, StoreError, check_preset_id, clean_preset

PREFIX = "/presets"
EXAMPLE = '{"name": "...", "instructions": "..."}'


def is_presets(path: str) -> bool:
    return path.rstrip("/") == PREFIX or path.startswith(PREFIX + "/")


def allowed_methods(path: str) -> str:
    return "GET, POST" if path.rstrip("/") == PREFIX else "PATCH, DELETE"


def route_name(path: str) -> str:
    return PREFIX if path.rstrip("/") == PREFIX else PREFIX + "/{id}"


def check_method(request: HttpRequest) -> None:
    check_allowed(request, allowed_methods(request.path), route_name(request.path))


class PresetApi:
    """Each call answers (status, JSON payload or None for no body) or raises GatewayError.
    The user is always the caller's `sub`: a preset id of another user's is 404."""

    def __init__(self, store: ConversationStore, config: Config) -> None:
        self.store, self.config = store, config

    def handle(self, request: HttpRequest) -> tuple[int, dict[str, Any] | None]:
        store, user = self.store, request.user
        rest = request.path.rstrip("/")[len(PREFIX) :].strip("/")
        check_method(request)
        try:
            if not rest:
                if request.method == "GET":
                    return 200, {"presets": [p.as_json() for p in store.presets(user)]}
                return 201, store.save_preset(user, *self._fields(request.body)).as_json()
            if "/" in rest:
                raise GatewayError(404, "Not found.")
            preset_id = check_preset_id(rest)
            if request.method == "PATCH":
                name, instructions = self._fields(request.body)
                return 200, store.save_preset(user, name, instructions, preset_id).as_json()
            store.delete_preset(user, preset_id)
            return 204, None
        except StoreError as exc:
            raise GatewayError(exc.status, exc.message) from None

    def _fields(self, body: bytes) -> tuple[str, str]:
        data = load_object(body, self.config.max_body_bytes, EXAMPLE)
        return clean_preset(data.get("name"), data.get("instructions"))
