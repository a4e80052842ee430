"""The layering rule, checked over the source tree (AST, no imports executed).

Layers, lowest first; a module may import its own layer and the layers below, never above:

    domain  ->  kernel  ->  storage  ->  services  ->  messenger (bot/tg)  ->  handlers, scheduler
            ->  composition root (bot/app.py, bot/wiring.py, bot/capabilities.py)  ->  entry points

handlers and scheduler are siblings and do not import each other. The domain imports nothing of
ours outside itself; nothing below the messenger-facing package imports aiogram. No module imports
one of ours inside a function body (that is how cycles were dodged); `if TYPE_CHECKING:` imports
are not deferred, but they are arrows like any other. Lazy imports of heavy third-party libraries
(fpdf, matplotlib, openpyxl) inside functions stay allowed: they keep start-up fast.

Storage is the only place that knows the database (issue #27): no module above it imports a
database driver (aiosqlite, sqlite3, asyncpg, psycopg), not even inside a function, and none holds
SQL; services pass the opaque handles of bot/unit_of_work.py to repositories. Entry points build
the backend through storage too (storage.db.Database). Tests and benchmarks may open a database
file themselves to look at it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("bot", "handlers", "storage", "scheduler", "bench", "tests", "sandbox")

# (layer name, module prefixes), lowest first. A module belongs to the layer of its longest prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("domain", ("bot.domain",)),
    ("kernel", ("bot.clock", "bot.paths", "bot.russian", "bot.i18n", "bot.config",
                "bot.logging_setup", "bot")),
    ("storage", ("storage",)),
    ("services", ("bot.services",)),
    ("messenger", ("bot.tg", "bot.max")),  # one package per wire where they differ
    ("handlers", ("handlers",)),
    ("scheduler", ("scheduler",)),
    ("root", ("bot.app", "bot.core", "bot.capabilities", "bot.wiring", "bot.webhook", "bot.district")),
    ("entry", ("bot.cli", "bot.cli_app", "bot.cli_people", "bot.cli_broadcast", "bot.cli_specs", "bot.cli_run",
               "bot.cli_district", "bot.cli_district_broadcast", "bot.cli_district_backup", "bot.cli_restore",
               "bot.district.runtime",
               "bot.multibot",
               "bot.sandbox",
               "bot.fakeapi", "bot.fakemax", "bench", "tests", "sandbox")),
)
RANK = {"domain": 0, "kernel": 1, "storage": 2, "services": 3, "messenger": 4, "handlers": 5, "scheduler": 5,
        "root": 6, "entry": 7}
WITHOUT_AIOGRAM = {"domain", "kernel", "storage", "services"}
DRIVERS = {"aiosqlite", "sqlite3", "asyncpg", "psycopg", "psycopg2", "psycopg_pool"}
# Above storage: the layers that must not name a database driver or hold SQL.
WITHOUT_DRIVER = {layer for layer, rank in RANK.items() if rank > RANK["storage"]}
# Redis is infrastructure of several workers (issue #27): only these modules talk to it (the send
# budget, the conversation storage, and the one client per URL both share); services, the domain and
# the rest of the bot never see it.
REDIS_MODULES = frozenset({"bot.tg.redis_rate", "bot.tg.redis_fsm", "bot.tg.redis_clients"})
REDIS_ALLOWED = ("tests", "bench")
# Entry points that look at database files themselves (to check what the bot wrote, or to count rows).
DRIVER_ALLOWED = ("tests", "bench")
# The start of a statement, as storage writes them: a string that begins so above storage is SQL.
SQL_START = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)\s|PRAGMA\s+\w+|BEGIN(\s+IMMEDIATE)?\s*;?\s*$)",
    re.DOTALL,  # upper case, as storage writes them: "Select a class from the list" is not SQL
)


@dataclass(frozen=True)
class Arrow:
    source: str  # module name
    target: str  # imported module name (ours or third-party)
    line: int
    deferred: bool  # inside a function body (and not under TYPE_CHECKING)


def layer_of(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), name)
    return None if best is None else best[1]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def arrows_of(root: Path, path: Path) -> list[Arrow]:
    source = module_name(root, path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    found: list[Arrow] = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            tc = type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Arrow(source, alias.name, child.lineno, in_function and not tc))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    # `from bot import services` imports the module bot.services, not just bot.
                    found.append(Arrow(source, f"{base}.{alias.name}", child.lineno, in_function and not tc))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef), tc)

    visit(ast.parse(path.read_text(encoding="utf-8")), False, False)
    return found


def sql_of(path: Path) -> list[int]:
    """Lines of the string literals in `path` that are SQL statements (an f-string counts by its
    first fixed part)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = str(node.values[0].value)
        if text is not None and SQL_START.match(text):
            found.append(node.lineno)
    return sorted(set(found))


def _storage_only(module: str, layer: str) -> bool:
    """Whether `module` must leave the database to storage/ (no driver, no SQL)."""
    return layer in WITHOUT_DRIVER and module.split(".")[0] not in DRIVER_ALLOWED


def _is_redis(module: str) -> bool:
    return module.split(".")[0] == "redis" or module.startswith("aiogram.fsm.storage.redis")


def _ours(module: str) -> bool:
    return module.split(".")[0] in OURS


def check_tree(root: Path) -> list[str]:
    """Every breach of the layering rule below `root`, one line each (empty: the tree is clean)."""
    problems: list[str] = []
    modules = {
        module_name(root, p): p
        for top in OURS if (root / top).is_dir()
        for p in sorted((root / top).rglob("*.py")) if ".venv" not in p.parts
    }

    def resolve(target: str) -> str:
        # `from bot.services import core` names bot.services.core; `from bot.app import App` names bot.app.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target

    for name, path in modules.items():
        src_layer = layer_of(name)
        if src_layer is None:
            continue
        where = f"{path.relative_to(root)}"
        storage_only = _storage_only(name, src_layer)
        for arrow in arrows_of(root, path):
            if arrow.target.split(".")[0] == "aiogram" and src_layer in WITHOUT_AIOGRAM:
                problems.append(f"{where}:{arrow.line}: {src_layer} imports aiogram ({arrow.target})")
            if arrow.target.split(".")[0] in DRIVERS and storage_only:
                problems.append(f"{where}:{arrow.line}: {src_layer} imports a database driver ({arrow.target})")
            if _is_redis(arrow.target) and name not in REDIS_MODULES and name.split(".")[0] not in REDIS_ALLOWED:
                problems.append(f"{where}:{arrow.line}: {src_layer} imports Redis ({arrow.target}); only "
                                f"{', '.join(sorted(REDIS_MODULES))} may")
            if not _ours(arrow.target):
                continue
            target = resolve(arrow.target)
            if not target or target == name:
                continue
            if arrow.deferred:
                problems.append(f"{where}:{arrow.line}: import of {target} inside a function")
            dst_layer = layer_of(target)
            if dst_layer is None:
                continue
            if src_layer == "domain" and dst_layer != "domain":
                problems.append(f"{where}:{arrow.line}: the domain imports {target}")
            elif RANK[dst_layer] > RANK[src_layer]:
                problems.append(f"{where}:{arrow.line}: {src_layer} imports {dst_layer} ({target})")
            elif dst_layer != src_layer and RANK[dst_layer] == RANK[src_layer]:
                problems.append(f"{where}:{arrow.line}: {src_layer} imports its sibling {dst_layer} ({target})")
        if storage_only:
            problems.extend(f"{where}:{line}: SQL in {src_layer}" for line in sql_of(path))
    return problems


def test_the_tree_keeps_the_layers() -> None:
    assert check_tree(ROOT) == []


def test_only_entry_points_import_the_composition_root() -> None:
    importers = {
        arrow.source
        for top in ("bot", "handlers", "storage", "scheduler")
        for path in (ROOT / top).rglob("*.py")
        for arrow in arrows_of(ROOT, path)
        if arrow.target == "bot.app" or arrow.target.startswith("bot.app.")
    }
    assert {m for m in importers if layer_of(m) != "entry"} == set()


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


CLEAN = {
    "bot/__init__.py": "",
    "bot/domain/__init__.py": "",
    "bot/domain/people.py": "class Person: ...\n",
    "bot/services/__init__.py": "",
    "bot/services/roster.py": "from bot.domain.people import Person\nfrom storage.people import PersonRepo\n",
    "storage/__init__.py": "",
    "storage/people.py": "from bot.domain.people import Person\n\nclass PersonRepo: ...\n",
    "handlers/__init__.py": "",
    "handlers/start.py": "from aiogram import Router\nfrom bot.services.roster import Person\n",
}


def test_a_clean_synthetic_tree_passes(tmp_path: Path) -> None:
    _write(tmp_path, CLEAN)
    assert check_tree(tmp_path) == []


def test_one_arrow_added_back_fails(tmp_path: Path) -> None:
    # Storage reaching up into services: the arrow this rule exists to stop.
    _write(tmp_path, {**CLEAN, "storage/people.py": "from bot.services.roster import Person\n"})
    assert check_tree(tmp_path) == ["storage/people.py:1: storage imports services (bot.services.roster)"]


def test_an_import_deferred_into_a_function_fails(tmp_path: Path) -> None:
    deferred = "def load():\n    from storage.people import PersonRepo\n    return PersonRepo\n"
    _write(tmp_path, {**CLEAN, "bot/services/roster.py": deferred})
    assert check_tree(tmp_path) == ["bot/services/roster.py:2: import of storage.people inside a function"]


def test_type_checking_imports_are_arrows_too(tmp_path: Path) -> None:
    upward = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from handlers.start import Router\n"
    _write(tmp_path, {**CLEAN, "bot/services/roster.py": upward})
    assert check_tree(tmp_path) == ["bot/services/roster.py:4: services imports handlers (handlers.start)"]


def test_aiogram_below_the_messenger_package_fails(tmp_path: Path) -> None:
    _write(tmp_path, {**CLEAN, "bot/services/roster.py": "from aiogram.types import Message\n"})
    assert check_tree(tmp_path) == ["bot/services/roster.py:1: services imports aiogram (aiogram.types.Message)"]


def test_the_domain_imports_nothing_of_ours(tmp_path: Path) -> None:
    _write(tmp_path, {**CLEAN, "bot/domain/people.py": "from bot.i18n import Translator\n", "bot/i18n.py": ""})
    assert check_tree(tmp_path) == ["bot/domain/people.py:1: the domain imports bot.i18n"]


def test_a_database_driver_above_storage_fails(tmp_path: Path) -> None:
    for driver in ("aiosqlite", "sqlite3", "asyncpg", "psycopg"):
        _write(tmp_path, {**CLEAN, "bot/services/roster.py": f"import {driver}\n"})
        assert check_tree(tmp_path) == [f"bot/services/roster.py:1: services imports a database driver ({driver})"]
    # In every layer above storage, deferred or not, the entry points' own modules included.
    _write(tmp_path, {
        **CLEAN,
        "handlers/start.py": "from aiogram import Router\n\ndef f():\n    import sqlite3\n",
        "bot/cli_app.py": "from aiosqlite import Connection\n",
    })
    assert check_tree(tmp_path) == [
        "bot/cli_app.py:1: entry imports a database driver (aiosqlite.Connection)",
        "handlers/start.py:4: handlers imports a database driver (sqlite3)",
    ]


def test_redis_outside_its_modules_fails(tmp_path: Path) -> None:
    _write(tmp_path, {
        **CLEAN,
        "bot/services/roster.py": "from redis.asyncio import Redis\n",
        "bot/tg/__init__.py": "",
        "bot/tg/fsm.py": "from aiogram.fsm.storage.redis import RedisStorage\n",
        "bot/tg/redis_rate.py": "import redis\n",
        "tests/__init__.py": "",
        "tests/test_redis.py": "import redis\n",
    })
    only = "only bot.tg.redis_clients, bot.tg.redis_fsm, bot.tg.redis_rate may"
    assert check_tree(tmp_path) == [
        f"bot/services/roster.py:1: services imports Redis (redis.asyncio.Redis); {only}",
        f"bot/tg/fsm.py:1: messenger imports Redis (aiogram.fsm.storage.redis.RedisStorage); {only}",
    ]


def test_storage_and_tests_may_use_the_driver(tmp_path: Path) -> None:
    _write(tmp_path, {
        **CLEAN,
        "storage/people.py": "import aiosqlite\n\nQ = 'SELECT id FROM persons WHERE id = ?'\n",
        "tests/__init__.py": "",
        "tests/test_people.py": "import sqlite3\n\nQ = 'SELECT count(*) FROM persons'\n",
    })
    assert check_tree(tmp_path) == []


def test_sql_above_storage_fails(tmp_path: Path) -> None:
    sql = (
        "Q = 'SELECT key, state FROM fsm'\n"
        "W = f'DELETE FROM fsm WHERE key IN ({1})'\n"
        "TEXT = 'Select a class from the list'\n"  # words, not a statement
    )
    _write(tmp_path, {**CLEAN, "bot/tg/fsm.py": sql, "bot/tg/__init__.py": ""})
    assert check_tree(tmp_path) == ["bot/tg/fsm.py:1: SQL in messenger", "bot/tg/fsm.py:2: SQL in messenger"]


def driver_types_in_signatures(root: Path) -> list[str]:
    """Public functions of storage/ (outside storage/db.py and storage/pg.py, the drivers' own modules) whose parameters
    or result name the driver's types or the SQLite database itself: what services see of storage
    must be the kernel's handles (bot/unit_of_work.py) and plain values."""
    found = []
    for path in sorted((root / "storage").glob("*.py")):
        if path.name in ("db.py", "pg.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name.startswith("_") and node.name != "__init__":
                continue
            signature = ast.unparse(node.args) + " -> " + (ast.unparse(node.returns) if node.returns else "")
            if re.search(r"\b(aiosqlite|sqlite3|asyncpg|psycopg)\.|\bDatabase\b", signature):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.name}({signature})")
    return found


def test_storage_shows_services_no_driver_type() -> None:
    assert driver_types_in_signatures(ROOT) == []


def test_a_driver_type_in_a_repository_signature_fails(tmp_path: Path) -> None:
    repo = (
        "import aiosqlite\n\n"
        "class PersonRepo:\n"
        "    def __init__(self, db: UnitOfWork) -> None: ...\n"
        "    async def get(self, conn: Connection) -> Person: ...\n"
        "    async def rows(self) -> list[aiosqlite.Row]: ...\n"
        "    async def _private(self, conn: aiosqlite.Connection) -> None: ...\n"
    )
    _write(tmp_path, {**CLEAN, "storage/people.py": repo})
    assert driver_types_in_signatures(tmp_path) == ["storage/people.py:6: rows(self -> list[aiosqlite.Row])"]
    _write(tmp_path, {**CLEAN, "storage/people.py": "class PersonRepo:\n    def __init__(self, db: Database): ...\n"})
    assert driver_types_in_signatures(tmp_path) == ["storage/people.py:2: __init__(self, db: Database -> )"]


def _functions(top: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in (ROOT / top).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def test_handlers_and_services_take_narrow_dependencies() -> None:
    """Issue #16 item 1/3: a handler asks for the service it calls (`consent: ConsentService`), a
    service gets its collaborators in its constructor; neither is handed the whole application."""
    wide = {"App", "Services", "Core"}
    offenders = []
    for top in ("handlers", "bot/tg", "bot/services", "scheduler"):
        for where, fn in _functions(top):
            for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
                annotation = ast.unparse(arg.annotation).strip("'\"") if arg.annotation is not None else ""
                if arg.arg in {"app", "core", "services"} or annotation in wide:
                    offenders.append(f"{where}: {fn.name}({arg.arg})")
    assert offenders == []


def test_only_the_root_and_entry_points_import_the_services_bundle() -> None:
    importers = {
        arrow.source
        for top in ("bot", "handlers", "storage", "scheduler")
        for path in (ROOT / top).rglob("*.py")
        for arrow in arrows_of(ROOT, path)
        if arrow.target == "bot.wiring" or arrow.target.startswith("bot.wiring.")
    }
    assert {m for m in importers if layer_of(m) not in {"root", "entry"}} == set()


def test_no_import_cycles() -> None:
    """No two of our modules import each other, directly or around a loop (`if TYPE_CHECKING:`
    imports included): a cycle is how the old App locator held together (issue #16)."""
    paths = [p for top in ("bot", "handlers", "storage", "scheduler") for p in (ROOT / top).rglob("*.py")]
    modules = {module_name(ROOT, p): p for p in paths}

    def known(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for source, path in modules.items():
        for arrow in arrows_of(ROOT, path):
            target = known(arrow.target)
            if target is not None and target != source and not source.startswith(target + "."):
                graph[source].add(target)
    # Depth-first search for a back edge; the first loop found is named.
    state: dict[str, int] = {}
    stack: list[str] = []

    def loop_from(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := loop_from(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    loops = [found for node in sorted(graph) if node not in state and (found := loop_from(node)) is not None]
    assert loops == []


# The repositories that have a Protocol in bot/services/repos.py, and its name.
PORTED_REPOS = {"PersonRepo": "People", "HelpRepo": "Tickets or TrainingSessions", "CodeRepo": "InvitationCodes",
                "SurveyRepo": "Surveys", "OpsRepo": "OpsRecords",
                "TaskRepo": "PlanRecords", "AckRepo": "AckCampaigns",
                "DeliveryRepo": "OutboxRecords", "MessengerRepo": "Messengers",
                "AnalysisRepo": "AnalysisRecords", "RetentionRepo": "RetentionRecords",
                "YearRepo": "YearRecords", "SubjectRepo": "SubjectRecords",
                "AccessLogRepo": "AccessLogRecords", "ConsentRepo": "ConsentLedger",
                "ConsentFormRepo": "ConsentForms", "DestructionRepo": "Destructions",
                "AccountRepo": "MessengerAccounts", "TokenRepo": "LinkTokens", "OutboxRepo": "OutboxQueue"}


def test_services_read_through_the_repository_protocols() -> None:
    """Services name the Protocols of bot/services/repos.py (`People`, `Tickets`, ...), not storage's
    repositories, for what they read (#27), and never build any (`CodeRepo(self.db)`): the one they
    read through is handed to their constructor (bot/wiring.py), so another backend's repository
    drops in. The repositories' static writes, given the caller's transaction, are still called by
    name."""
    offenders: list[str] = []
    for path in sorted((ROOT / "bot" / "services").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            # Any repository, ported or not: a new one gets its Protocol, not a construction here.
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.endswith("Repo"):
                wanted = PORTED_REPOS.get(node.func.id, "Protocol from bot/services/repos.py")
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: builds {node.func.id} (take a "
                                 f"{wanted} in the constructor)")
            annotations: list[ast.expr | None] = []
            if isinstance(node, ast.AnnAssign | ast.arg):
                annotations.append(node.annotation)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                annotations.append(node.returns)
            for annotation in annotations:
                named = set() if annotation is None else set(re.findall(r"\w+", ast.unparse(annotation)))
                for repo in sorted(named & PORTED_REPOS.keys()):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {repo} (use {PORTED_REPOS[repo]})")
    assert offenders == []


# Services depend on ports, not on storage (#27 item 1): what is left, each with why, shrinking to
# empty. A module drops out of the list once it imports nothing from storage/ (the test fails on a
# stale entry, so the list only shrinks). "records" are plain dataclasses still defined in storage
# (they move to a storage-free module); "statics" are a repository's writes called by class name.
STORAGE_IMPORTS_LEFT: dict[str, str] = {}
# Repositories whose transaction-side methods services still call by class name
# (`XRepo.write(tx, ...)`), each waiting for its port in bot/services/repos.py: the reason per
# repository, and the modules that still call each (exactly: a module that stops must leave).
STATIC_REASONS: dict[str, str] = {}
STATIC_CALLS_LEFT: dict[str, set[str]] = {}


def _service_storage_use() -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """(module -> its imports from storage, module -> the repository classes it calls by name)."""
    imports: dict[str, list[str]] = {}
    calls: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot" / "services").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "storage":
                imports.setdefault(path.name, []).append(f"{node.lineno}: from {node.module}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "storage" for a in node.names):
                imports.setdefault(path.name, []).append(f"{node.lineno}: import storage")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id.endswith("Repo")):
                calls.setdefault(path.name, set()).add(node.func.value.id)
    return imports, calls


def test_services_import_nothing_from_storage_but_the_listed() -> None:
    """A service module imports nothing from storage/ (#27): its repositories arrive as the ports of
    bot/services/repos.py, its records from a storage-free module. The modules still listed say why;
    an entry whose module no longer imports storage must go (the list only shrinks)."""
    imports, _ = _service_storage_use()
    new = {name: lines for name, lines in imports.items() if name not in STORAGE_IMPORTS_LEFT}
    stale = sorted(STORAGE_IMPORTS_LEFT.keys() - imports.keys())
    assert new == {}, "a service imports storage: take a port from bot/services/repos.py"
    assert stale == [], "no longer imports storage: drop it from STORAGE_IMPORTS_LEFT"


def test_no_service_calls_a_storage_class_by_name() -> None:
    """`ConsentRepo.record(tx, ...)` in a service ties it to one backend's class (#27): the service
    calls the port it was handed (`self.ledger.record(tx, ...)`). The repositories still called by
    name are listed; a ported one must leave the list."""
    _, calls = _service_storage_use()
    new = {name: repos - STATIC_CALLS_LEFT.get(name, set()) for name, repos in calls.items()}
    stale = {name: repos - calls.get(name, set()) for name, repos in STATIC_CALLS_LEFT.items()}
    assert {name: repos for name, repos in new.items() if repos} == {}, (
        "a service calls a repository by name: call the port it was handed")
    assert {name: repos for name, repos in stale.items() if repos} == {}, (
        "no longer called by name there: drop it from STATIC_CALLS_LEFT")
    left = set().union(*STATIC_CALLS_LEFT.values())
    assert left == STATIC_REASONS.keys(), "each repository still called by name says why in STATIC_REASONS"
