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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from aiohttp import ClientConnectorError, ClientError, ClientSession, ClientTimeout, web

from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.fakeapi import FakeTelegram
from bot.fakeapi.models import SEND_METHODS
from bot.fakeapi.user import FakeUser
from storage.district import schema_name
from tests.servers import start_pg_server

# --- measures ---------------------------------------------------------------------------------------


# The fake stamps a delivery when it records it, a moment after its rate check accepted it: two
# deliveries its check saw a full second apart may be stamped a fraction of a millisecond closer (a
# CI run saw 0.99974 s). Windows are judged with that much slack, as the platform's own check is.
STAMP_SLACK = 0.005


def window_max(times: Iterable[float], width: float = 1.0) -> int:
    """The most events in any window [t, t + width) (a sliding window, not seconds on the clock),
    less the fake's stamping slack."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= width - STAMP_SLACK:
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
    """What one bot token's fake saw. Delivered: the sends it accepted (the messages people got);
    attempted: every send request, a refused one too (the bot's own pace)."""

    sends: int                     # delivered
    max_per_second: int            # the most delivered in any one-second window
    max_per_chat_second: int       # the most delivered to one chat in any one-second window
    min_chat_gap: float | None     # the shortest gap between two deliveries to one chat
    attempted_max_per_second: int  # the most requests in any one-second window, refused ones too
    refused_429: int               # requests the fake refused for going too fast


def token_figures(tg: FakeTelegram) -> TokenFigures:
    requests = [r for r in tg.requests if r.method in SEND_METHODS and not r.dropped]
    sends = [r for r in requests if r.status == 200]
    by_chat: dict[Any, list[float]] = {}
    for r in sends:
        by_chat.setdefault(r.params.get("chat_id"), []).append(r.time)
    gaps = [g for g in (min_gap(times) for times in by_chat.values()) if g is not None]
    return TokenFigures(
        sends=len(sends),
        max_per_second=window_max(r.time for r in sends),
        max_per_chat_second=max((window_max(t) for t in by_chat.values()), default=0),
        min_chat_gap=min(gaps) if gaps else None,
        attempted_max_per_second=window_max(r.time for r in requests),
        refused_429=sum(1 for r in requests if r.status == 429),
    )


# --- one address for many bots ----------------------------------------------------------------------


class ApiRouter:
    """One HTTP address (BOT_API_URL) in front of one fake Telegram per bot token: a request for
    /bot<token>/<method> goes to that token's fake, whose own record and rate limits apply. Every
    worker of a district uses one Bot API address for all its bots, as with the real Telegram."""

    def __init__(self, fakes: Sequence[FakeTelegram], default: FakeTelegram | None = None) -> None:
        self.fakes = {tg.token: tg for tg in fakes}
        # A fake that answers for any other token (as its own bot): where the messenger is not what
        # is measured (bench/district_worker_memory.py: 300 bots).
        self.default = default
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        tg = self.fakes.get(token) or self.default
        if tg is None:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type",)}
        path = request.rel_url.path_qs.replace(f"bot{token}/", f"bot{tg.token}/", 1)
        async with self._session.request(request.method, tg.base_url + path, data=body, headers=headers) as resp:
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
    # The requests a worker died under (it had them, gave no answer): as received, an update's JSON.
    cut_off: list[bytes] = field(default_factory=list)


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
            except ClientConnectorError:
                self.stats.failed_over += 1        # nobody listens there: the request never arrived
            except (ClientError, ConnectionError, TimeoutError):
                self.stats.failed_over += 1
                self.stats.cut_off.append(body)
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
    """`schoolbot run` with the shared environment and WEBHOOK_PORT=port (the unit's instance); a
    variable given as "" is left unset."""
    log = folder / f"{name}-{port}.log"
    full = {k: v for k, v in {**os.environ, **env, "WEBHOOK_PORT": str(port)}.items() if v != ""}
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


# --- a whole district for the benchmarks: servers, schools, families, workers ---------------------------

BENCH_SECRET = "bench-webhook-secret-0123456789"
CLASSES = ["5А", "5Б", "6А", "6Б", "7А", "7Б", "8А", "8Б", "9А", "9Б", "10А", "11А"]


def school_token(school: int) -> str:
    return f"{80_000 + school}:BENCH-SCHOOL-{school:03d}-TOKEN-0123456789ab"


def school_key(school: int) -> str:
    return f"s{school:03d}"


def family_chat(school: int, family: int) -> int:
    return 10_000_000 + school * 10_000 + family


def roster_csv(families: int, staff: int = 1) -> bytes:
    """A school's roster: an IT officer (and `staff` - 1 teachers), `families` pupils with a parent each."""
    lines = ["ФИО;Роль;Класс;Телефон;Дети", "Петров Пётр Петрович;ответственный по информатизации;;+79000000001;"]
    lines += [f"Учитель{n:03d} Ольга Ивановна;учитель;;;" for n in range(1, staff)]
    for f in range(families):
        cls = CLASSES[f % len(CLASSES)]
        child = f"Ученик{f:05d} Иван Петрович"
        lines.append(f"{child};ученик;{cls};;")
        lines.append(f"Родитель{f:05d} Анна Сергеевна;родитель;;+7902{f:07d};{child} ({cls})")
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


def private_toml(folder: Path) -> Path:
    """The example school, private (Telegram carries everything), without quiet hours."""
    text = EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8")
    text = text.replace('operator = "municipal"\n', 'operator = "private"\n').replace('telegram = ["public"]\n', "")
    text = text.replace('quiet_start = "21:00"', 'quiet_start = "00:00"').replace('quiet_end = "08:00"',
                                                                                  'quiet_end = "00:00"')
    path = folder / "school.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(env: Mapping[str, str], folder: Path, *argv: str, quiet: bool = True) -> int:
    """A `schoolbot` command in a child process, as the operator runs it (the same environment)."""
    full = {k: v for k, v in {**os.environ, **env}.items() if v != ""}
    done = subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "bot.cli", *argv], cwd=folder, env=full, check=False,
        stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE,
    )
    if done.returncode != 0:
        raise RuntimeError(f"schoolbot {' '.join(argv[:3])} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return done.returncode


def link_parents(url: str, schools: int) -> int:
    """Every parent of every school linked to a Telegram account (chat = family_chat): the state after
    each family pressed /start and shared its phone, written directly (the benchmark measures what
    comes after). Returns how many."""
    linked = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(schools):
            schema = schema_name(school_key(i))
            # Family number from the parent's name (Родитель00042 ...): its chat id.
            cur = conn.execute(
                f"INSERT INTO {schema}.accounts(person_id, channel, user_id, linked_at, created_at)"
                f" SELECT p.id, 'telegram', %s + CAST(substr(p.full_name, 9, 5) AS BIGINT), %s, %s"
                f" FROM {schema}.persons p JOIN {schema}.person_roles r ON r.person_id = p.id AND r.role = 'parent'",
                (family_chat(i, 0), "2026-12-07T10:00:00.000000Z", "2026-12-07T10:00:00.000000Z"),
            )
            linked += cur.rowcount
    return linked


@dataclass
class Rig:
    """A district ready to serve: PostgreSQL and Redis, its schools with families linked, one fake bot
    per school behind one API address, the reverse proxy; workers started with `start`."""

    folder: Path
    env: dict[str, str]
    fakes: list[FakeTelegram]
    router: ApiRouter
    proxy: RoundRobinProxy
    users: dict[tuple[int, int], FakeUser]
    workers: list[Worker] = field(default_factory=list)

    async def start(self, count: int, timeout: float = 300) -> None:
        self.proxy.ports[:] = [free_port() for _ in range(count)]
        before = {tg.token: sum(1 for r in tg.requests if r.method == "setWebhook") for tg in self.fakes}
        self.workers = [start_worker(self.env, port, self.folder, name=f"w{n}") for n, port in
                        enumerate(self.proxy.ports)]
        await wait_listening(self.workers, timeout=timeout)
        deadline = time.monotonic() + timeout
        while any(sum(1 for r in tg.requests if r.method == "setWebhook") - before[tg.token] < count
                  for tg in self.fakes):
            if time.monotonic() > deadline or not all(w.alive for w in self.workers):
                raise RuntimeError("workers did not register their webhooks:\n" + self.workers[0].output()[-3000:])
            await asyncio.sleep(0.2)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []


@contextlib.asynccontextmanager
async def district_rig(
    folder: Path, pg_url: str, redis_url: str, *, schools: int, families: int, rate_limited: bool = True,
) -> AsyncIterator[Rig]:
    fakes = [FakeTelegram(token=school_token(i), rate_limited=rate_limited) for i in range(schools)]
    users: dict[tuple[int, int], FakeUser] = {}
    for i, tg in enumerate(fakes):
        await tg.start()
        tg.webhooks.allow_http = True
        for f in range(families):
            users[(i, f)] = tg.user(family_chat(i, f), "Анна", f"Родитель{f:05d}")
    router = ApiRouter(fakes)
    await router.start()
    proxy = RoundRobinProxy([])
    await proxy.start()
    env = {
        "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "DISTRICT_DIR": str(folder / "district"),
        "BOT_API_URL": router.base_url, "WEBHOOK_URL": f"{proxy.base_url}/schoolbot",
        "WEBHOOK_SECRET": BENCH_SECRET, "LOG_LEVEL": "WARNING", "LANG": "ru_RU.UTF-8",
        "BOT_TOKEN": "", "MAX_TOKEN": "", "ADMIN_IDS": "",
    }
    toml = private_toml(folder)
    roster = folder / "roster.csv"
    roster.write_bytes(roster_csv(families))
    for i in range(schools):
        token_file = folder / f"{school_key(i)}.token"
        token_file.write_text(school_token(i), encoding="utf-8")
        await asyncio.to_thread(run_cli, env, folder, "district", "add-school", school_key(i), "--title",
                                f"Школа № {i + 1}", "--config", str(toml), "--telegram-token-file", str(token_file))
        await asyncio.to_thread(run_cli, env, folder, "district", "import", school_key(i), "roster", str(roster))
    await asyncio.to_thread(link_parents, pg_url, schools)
    rig = Rig(folder, env, fakes, router, proxy, users)
    try:
        yield rig
    finally:
        rig.stop_workers()
        await proxy.stop()
        await router.stop()
        for tg in fakes:
            await tg.stop()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port (no persistence), its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server) and BENCH_REDIS_URL is unset")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    proc = subprocess.Popen(  # noqa: S603 - the system's redis-server
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL (tests/servers.py) and Redis for a benchmark, or BENCH_DATABASE_URL and
    BENCH_REDIS_URL of your own (a fresh database: the benchmark adds its schools)."""
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    pg = None if pg_url else start_pg_server()
    try:
        if pg is not None:
            pg_url = pg.dsn()
        if not pg_url:
            raise SystemExit("PostgreSQL is not installed and BENCH_DATABASE_URL is unset")
        given = os.environ.get("BENCH_REDIS_URL")
        if given:
            yield pg_url, given
            return
        with redis_server() as redis_url:
            yield pg_url, redis_url
    finally:
        if pg is not None:
            pg.stop()
