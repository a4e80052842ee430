"""An in-process fake of the MAX Bot API (platform-api2.max.ru), checked against the official schema.

``FakeMax`` is the HTTP server: its lifecycle and routes, and the checks every request and answer go
through. The state it serves is ``bot.fakemax.state``, the operations ``bot.fakemax.operations``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from bot.fakemax.models import RecordedRequest
from bot.fakemax.operations import FakeMaxOperations
from bot.fakemax.refusals import MaxApiError
from bot.fakemax.schema import SchemaViolation, load_schema

log = logging.getLogger(__name__)

MAX_UPLOAD = 64 * 1024 * 1024


class FakeMax(FakeMaxOperations):
    """A fake MAX Bot API HTTP server: dialogs, messages, callbacks, uploads and long-polled updates.

    Every request is checked against the vendored official schema (``bot.fakemax.schema``): an unknown
    path is 404, a missing or wrong ``Authorization`` token 401, more than ``rate`` requests per second
    429, and a request whose parameters or body break the schema 400 with MAX's Error body. Every
    answer the fake gives is checked too; an answer that breaks the schema is a bug of the fake,
    recorded in ``response_violations`` and answered 500 (tests assert it stays empty).
    Users are simulated with ``max.user(...)`` (see ``FakeMaxUser``).
    """

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            raise RuntimeError("FakeMax is already running")
        self._schema = await asyncio.to_thread(load_schema)
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("POST", "/_upload/{upload_id}", self._handle_upload)
        app.router.add_route("GET", "/_files/{token}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # No access log: it would print query strings, and the token must never reach logs.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=self.server_ssl)
        await site.start()
        self._runner = runner
        self._closing = asyncio.Event()
        scheme = "https" if self.server_ssl is not None else "http"
        self.base_url = f"{scheme}://{host}:{runner.addresses[0][1]}"
        self.start_delivery()
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing.set()
        self._notify()
        await self.stop_delivery()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- HTTP -----------------------------------------------------------------------------------

    def _json(self, record: RecordedRequest, status: int, body: Any) -> web.Response:
        record.status, record.response = status, body
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        record = RecordedRequest(method=request.method, path=request.path, query=query, body=None)
        self.requests.append(record)
        self.stats.requests += 1
        found = self.schema.match(request.method, request.path)
        if found is None:
            return self._json(record, 404, {"code": "not.found", "message": f"Path {request.path} is not recognized"})
        operation, path_params = found
        record.operation_id = operation.operation_id
        self.stats.by_operation[operation.operation_id] = self.stats.by_operation.get(operation.operation_id, 0) + 1
        planned = self.fail_operation.get(operation.operation_id)
        if self.fail_next or planned:
            forced = planned.pop(0) if planned else self.fail_next.pop(0)
            record.status = forced
            if forced == 0:  # the connection drops before any answer
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            return self._json(record, forced, {"code": "internal", "message": "Service temporarily unavailable"})
        try:
            if "access_token" in query:
                # MAX takes the token in the Authorization header only; the query parameter was retired.
                raise MaxApiError(401, "verify.token", "Pass the token in the Authorization header")
            if request.headers.get("Authorization") != self.token:
                raise MaxApiError(401, "verify.token", "Invalid access_token")
            if not self._bucket.admit():
                self.stats.refused_rate += 1
                raise MaxApiError(429, "too.many.requests", "Too many requests")
            params = self.schema.check_parameters(operation, path_params, query)
            body: Any = None
            if operation.spec.get("requestBody") is not None:
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise MaxApiError(400, "proto.payload", "Request body is not valid JSON") from None
                record.body = body
                self.schema.check_body(operation, body)
            handler = self._handlers.get(operation.operation_id)
            if handler is None:
                raise MaxApiError(405, "method.not.allowed", f"{operation.operation_id} is not served by the fake")
            status, answer = 200, await handler(params, body)
        except SchemaViolation as exc:
            self.stats.refused_schema += 1
            status, answer = 400, {"code": "proto.payload", "message": str(exc)}
        except MaxApiError as exc:
            status, answer = exc.status, {"code": exc.code, "message": exc.message}
        except Exception as exc:  # a bug of the fake itself
            log.exception("fake MAX failed on %s", operation.operation_id)
            self.internal_errors.append(exc)
            status, answer = 500, {"code": "internal", "message": type(exc).__name__}
        try:
            self.schema.check_response(operation, status, answer)
        except SchemaViolation as exc:
            self.response_violations.append(str(exc))
            status, answer = 500, {"code": "internal", "message": "response broke the schema"}
        return self._json(record, status, answer)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        kind = self._uploads.pop(request.match_info["upload_id"], None)
        if self.fail_uploads:  # a forced failure of the upload server: a status, or 0 to drop
            forced = self.fail_uploads.pop(0)
            if forced == 0 and request.transport is not None:
                request.transport.close()
            return web.json_response({"code": "internal", "message": "Upload failed"}, status=forced or 500)
        if kind is None:
            return web.json_response({"code": "not.found", "message": "Unknown upload"}, status=404)
        reader = await request.multipart()
        data, filename = b"", "file"
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "data":
                # aiohttp percent-encodes a non-ASCII file name in the form; the server reads it back.
                filename = unquote(part.filename or filename)
                data = bytes(await part.read())
        if not data:
            return web.json_response({"code": "proto.payload", "message": "No data part"}, status=400)
        if len(filename) > 200:  # as MAX: a file name up to 200 characters
            return web.json_response({"code": "proto.payload", "message": "File name is too long"}, status=400)
        stored = self.store_file(data, filename, kind, processing=self.upload_processing)
        if kind == "image":
            return web.json_response({"photos": {str(stored.photo_id): {"token": stored.token}}})
        return web.json_response({"token": stored.token})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files.get(request.match_info["token"])
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")


__all__ = ["FakeMax"]
