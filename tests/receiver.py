"""A stand-in for the app's webhook endpoint: records what arrives, answers as told."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Receiver:
    deliveries: list[Delivery] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int) -> None:
        """Answer the next deliveries with these statuses (then 200)."""
        self.statuses.extend(statuses)

    def app(self, _url: str) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.deliveries.append(Delivery(body, dict(request.headers)))
                status = self.statuses.popleft() if self.statuses else 200
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])
