"""What the district's multi-worker test and benchmarks share (#27 items 6 and 7): worker processes
run as `schoolbot run` runs them, the reverse proxy in front of them (round robin, the next worker
when one is down, as deploy/nginx/schoolbot.conf does), one address for many fake Telegram bots, and
the measures read from the fakes' records (sends per token in any one-second window, per chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from bot.fakeapi import FakeTelegram
from bot.fakeapi.models import SEND_METHODS

# --- measures ---------------------------------------------------------------------------------------


def window_max(times: Iterable[float], width: float = 1.0) -> int:
    """The most events in any window [t, t + width) (a sliding window, not seconds on the clock)."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def min_gap(times: Iterable[float]) -> float | None:
    """The shortest time between two consecutive events (None: fewer than two)."""
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    return min(gaps) if gaps else None


@dataclass
class TokenFigures:
    """What one bot token's fake saw: sends it accepted, their rate and per-chat pace."""

    sends: int
    max_per_second: int            # the most sends in any one-second window
    max_per_chat_second: int       # the most sends to one chat in any one-second window
    min_chat_gap: float | None     # the shortest gap between two sends to one chat
    refused_429: int


def token_figures(tg: FakeTelegram) -> TokenFigures:
    """Every send request the fake received with its token (accepted or not: the rate is the bot's
    doing, whatever the fake answered)."""
    sends = [r for r in tg.requests if r.method in SEND_METHODS and not r.dropped]
    by_chat: dict[Any, list[float]] = {}
    for r in sends:
        by_chat.setdefault(r.params.get("chat_id"), []).append(r.time)
    gaps = [g for g in (min_gap(times) for times in by_chat.values()) if g is not None]
    return TokenFigures(
        sends=len(sends),
        max_per_second=window_max(r.time for r in sends),
        max_per_chat_second=max((window_max(t) for t in by_chat.values()), default=0),
        min_chat_gap=min(gaps) if gaps else None,
        refused_429=sum(1 for r in sends if r.status == 429),
    )


# --- one address for many bots ----------------------------------------------------------------------


class ApiRouter:
    """One HTTP address (BOT_API_URL) in front of one fake Telegram per bot token: a request for
    /bot<token>/<method> goes to that token's fake, whose own record and rate limits apply. Every
    worker of a district uses one Bot API address for all its bots, as with the real Telegram."""

    def __init__(self, fakes: Sequence[FakeTelegram]) -> None:
        self.fakes = {tg.token: tg for tg in fakes}
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        tg = self.fakes.get(request.match_info["token"])
        if tg is None:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type",)}
        async with self._session.request(
            request.method, tg.base_url + request.rel_url.path_qs, data=body, headers=headers
        ) as resp:
            data = await resp.read()
            return web.Response(body=data, status=resp.status, content_type=resp.content_type)

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._forward)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._forward)
        self._session = ClientSession(timeout=ClientTimeout(total=120))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- Telegram's delivery of updates, several at once -------------------------------------------------


class ConcurrentDelivery:
    """Delivers one fake bot's updates to its webhook as Telegram does: over several connections at
    once (setWebhook's max_connections, 40 by default), each update retried until it gets a 2xx. The
    fake's own delivery (bot.fakeapi.webhook) posts one update at a time, waiting for each answer; a
    bot whose handlers wait for the per-chat pace would then serve one family at a time."""

    def __init__(self, tg: FakeTelegram, connections: int = 8, retry: float = 0.2) -> None:
        self.tg = tg
        self.connections = connections
        self.retry = retry
        self.inflight = 0
        self.posted = 0
        self.failed_posts = 0
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: ClientSession | None = None
        self._idle = asyncio.Event()

    async def start(self) -> None:
        await self.tg.webhooks.stop()  # the fake's own one-at-a-time loop
        self._session = ClientSession(timeout=ClientTimeout(total=90))
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        slots = asyncio.Semaphore(self.connections)
        while True:
            queue = self.tg.updates
            changed, hook_changed = queue.changed, self.tg.webhooks.changed
            hook = self.tg.webhooks.webhook
            item = queue.first() if hook is not None else None
            if hook is None or item is None:
                waiters = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(hook_changed.wait())]
                try:
                    await asyncio.wait(waiters, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
                continue
            queue.remove(item)
            await slots.acquire()
            self.inflight += 1
            task = asyncio.create_task(self._deliver(item.update, slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, update: dict[str, Any], slots: asyncio.Semaphore) -> None:
        assert self._session is not None
        try:
            while True:
                hook = self.tg.webhooks.webhook
                if hook is not None:
                    headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
                    try:
                        async with self._session.post(hook.url, json=update, headers=headers) as resp:
                            await resp.read()
                            if 200 <= resp.status < 300:
                                self.posted += 1
                                return
                    except (ClientError, TimeoutError):
                        pass
                    self.failed_posts += 1
                await asyncio.sleep(self.retry)
        finally:
            self.inflight -= 1
            slots.release()

    @property
    def idle(self) -> bool:
        return self.inflight == 0 and len(self.tg.updates) == 0


# --- the reverse proxy ------------------------------------------------------------------------------


@dataclass
class ProxyStats:
    served: Counter[int] = field(default_factory=Counter)   # port -> requests answered
    failed_over: int = 0                                    # tries that found a worker down
    unanswered: int = 0                                     # no worker answered at all


class RoundRobinProxy:
    """The reverse proxy in front of the workers, as deploy/nginx/schoolbot.conf configures nginx:
    each request goes to the next worker in turn; a worker that refuses the connection or dies
    before answering is skipped and the same request goes to the next one (proxy_next_upstream
    error ... non_idempotent), up to every worker once."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self.stats = ProxyStats()
        self.base_url = ""
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        headers["X-Forwarded-For"] = request.remote or "127.0.0.1"
        first = next(self._turn)
        for i in range(len(self.ports)):
            port = self.ports[(first + i) % len(self.ports)]
            try:
                async with self._session.post(
                    f"http://127.0.0.1:{port}{request.rel_url.path_qs}", data=body, headers=headers
                ) as resp:
                    data = await resp.read()
                    self.stats.served[port] += 1
                    return web.Response(body=data, status=resp.status, content_type=resp.content_type)
            except (ClientError, ConnectionError, TimeoutError):
                self.stats.failed_over += 1
        self.stats.unanswered += 1
        return web.Response(status=502)

    async def start(self, port: int = 0) -> str:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("POST", "/{path:.*}", self._forward)
        self._session = ClientSession(timeout=ClientTimeout(total=70))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None


# --- worker processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Worker:
    """One `schoolbot run` process, as systemd starts schoolbot@<port>."""

    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler finishes, no lease is released, nothing is flushed."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as `systemctl stop` does; SIGKILL after `timeout`."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def start_worker(env: Mapping[str, str], port: int, folder: Path, *, name: str = "worker") -> Worker:
    """`schoolbot run` with the shared environment and WEBHOOK_PORT=port (the unit's instance)."""
    log = folder / f"{name}-{port}.log"
    full = {**os.environ, **env, "WEBHOOK_PORT": str(port)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=folder, env=full, stdout=out, stderr=subprocess.STDOUT,
        )
    return Worker(port, proc, log)


async def wait_listening(workers: Sequence[Worker], timeout: float = 60.0) -> None:
    """Until every worker accepts connections on its port (a process coming up, not a deadline of
    the code under test)."""
    deadline = time.monotonic() + timeout
    for worker in workers:
        while True:
            if not worker.alive:
                raise RuntimeError(f"worker {worker.port} exited {worker.proc.returncode}:\n{worker.output()[-3000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", worker.port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker {worker.port} not listening:\n{worker.output()[-3000:]}") from None
                await asyncio.sleep(0.1)
