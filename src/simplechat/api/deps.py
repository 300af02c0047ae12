"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from simplechat.service import ChatService


def get_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.service
    return service


ServiceDep = Annotated[ChatService, Depends(get_service)]
