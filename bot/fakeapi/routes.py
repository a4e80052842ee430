"""The HTTP side: the aiohttp app, one route for every method call and one for file downloads.

A call is recorded first, then read, authorised, delayed or failed as the faults say, then dispatched
through the method table; every outcome becomes a Telegram-shaped JSON reply and a counter in stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from bot.fakeapi.errors import ApiError
from bot.fakeapi.faults import Faults
from bot.fakeapi.methods import resolve
from bot.fakeapi.models import RecordedRequest
from bot.fakeapi.params import loggable, read_params
from bot.fakeapi.state import FakeState

logger = logging.getLogger(__name__)

MAX_UPLOAD = 60 * 1024 * 1024  # Telegram accepts 50 MB uploads from bots; leave headroom


class _Drop(Exception):
    """Internal: abort the HTTP connection without a reply."""


class Routes:
    def __init__(self, state: FakeState, faults: Faults) -> None:
        self._state = state
        self._faults = faults

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("*", "/bot{token}/{method}", self.handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self.handle_file)
        return app

    async def handle_method(self, request: web.Request) -> web.StreamResponse:
        state = self._state
        name = request.match_info["method"]
        entry = resolve(name)
        method = entry.name if entry else name
        record = RecordedRequest(method=method, params={}, time=time.monotonic())
        state.record_request(record)
        try:
            params, uploads = await read_params(request)
            record.params = loggable(params, uploads)
            if state.latency:
                await self._sleep(state.latency)
            if request.match_info["token"] != state.token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found")
            fault = self._faults.pick_fault(method)
            if fault is not None and fault.status == 0:
                # Counted before holding: a client that times out first cancels this handler.
                self._count_drop(record)
                if state.timeout_hold:
                    await self._sleep(state.timeout_hold)
                raise _Drop
            if fault is not None and not fault.lost:
                raise fault.error()
            result = await entry.handler(state, params, uploads)
            if fault is not None and fault.lost:
                self._count_drop(record)
                raise _Drop
        except _Drop:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)  # never reaches the client
        except ApiError as error:
            return self._reply(record, error.status, error.payload())
        except Exception as error:
            logger.exception("fake Bot API failed on %s", method)
            state.internal_errors.append(error)
            payload = ApiError(500, f"Internal Server Error: fake API bug: {error!r}").payload()
            return self._reply(record, 500, payload)
        return self._reply(record, 200, {"ok": True, "result": result})

    async def handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._state.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        stored = self._state.files.by_path(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    def _count_drop(self, record: RecordedRequest) -> None:
        record.dropped = True
        self._state.stats.dropped[record.method] += 1

    def _reply(self, record: RecordedRequest, status: int, body: dict[str, Any]) -> web.Response:
        record.status = status
        stats = self._state.stats
        if status < 300:
            stats.accepted[record.method] += 1
        elif status == 429:
            stats.rate_limited[record.method] += 1
        elif status >= 500:
            stats.server_errors[record.method] += 1
        else:
            stats.client_errors[record.method] += 1
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but return early when the server is stopping (so shutdown never waits)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._state.closing.wait(), seconds)
