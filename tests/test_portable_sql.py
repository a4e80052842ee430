"""The repositories' SQL is one text for SQLite and PostgreSQL (#27): no SQLite-only idiom in
storage/, but where an engine is the subject (its own backend, file copies, the few per-engine
branches of storage/dialect.py). The PostgreSQL adapter translates placeholders only, so an idiom
that slips in fails there at run time; this fails first, on either backend, naming the file and the
portable form."""

from __future__ import annotations

import ast
import re
from pathlib import Path

STORAGE = Path(__file__).resolve().parent.parent / "storage"

# Modules about one engine in particular, and why.
ENGINE_MODULES = {
    "db.py": "the SQLite backend itself (connection, migrations, PRAGMA switches)",
    "snapshot.py": "SQLite file copies for backups",
    "lock.py": "the SQLite file's process lock",
    "pg.py": "the PostgreSQL backend itself",
    "pg_backup.py": "pg_dump backups",
    "dialect.py": "the per-engine branches repositories ask for (schema catalogue, secure_delete)",
    "district.py": "the registry's SQLite store opens its own connection (PRAGMA switches)",
    "district_backup.py": "the registry's backups: SQLite file copies and pg_dump",
}

# Idiom -> the portable form.
SQLITE_ONLY = {
    r"\bINSERT\s+OR\s+(IGNORE|REPLACE)\b": "INSERT ... ON CONFLICT DO NOTHING / ON CONFLICT(cols) DO UPDATE",
    r"\bUPDATE\s+OR\s+\w+\b": "an UPDATE under a SAVEPOINT (storage/merge.py)",
    r"(?<![\w.])rowid\b": "the real key, or an explicit ORDER BY column",
    r"(?i)\bgroup_concat\s*\(": "rows grouped in Python (storage.people.roles_of_people)",
    r"(?i)\bjson_\w+\s*\(": "rows joined and grouped in Python (storage.people._people)",
    r"\bsqlite_master\b": "storage.dialect.tables / columns / references_to",
    r"(?i)\bPRAGMA\b|\bpragma_\w+\s*\(": "storage.dialect (schema reads, secure_delete)",
    r"\?\d": "one ? per value (the same value passed again)",
    r"(?i)\b(strftime|julianday|datetime|date|time)\s*\(": "date arithmetic in Python (storage/timefmt.py texts)",
    r"(?i)\bifnull\s*\(": "coalesce(...)",
    r"\bLIMIT\s+-1\b": "no LIMIT",
    r"\bIN\s*\(\s*\)": "a guard for the empty list",
}


def _strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string literals of `path` but its docstrings (f-strings by their fixed parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_repositories_write_sql_both_engines_accept() -> None:
    found = []
    for path in sorted(STORAGE.glob("*.py")):
        if path.name in ENGINE_MODULES:
            continue
        source = path.read_text(encoding="utf-8")
        if ".lastrowid" in source:
            found.append(f"storage/{path.name}: cur.lastrowid -> INSERT ... RETURNING id (dialect.returning_id)")
        for line, text in _strings(path):
            for idiom, portable in SQLITE_ONLY.items():
                if re.search(idiom, text):
                    found.append(f"storage/{path.name}:{line}: {text.strip()[:80]!r} -> {portable}")
    assert not found, "\n".join(found)


def test_the_guard_sees_each_idiom() -> None:
    """Each pattern catches what it names (a guard that matches nothing would pass forever)."""
    samples = [
        "INSERT OR IGNORE INTO t(a) VALUES (?)", "UPDATE OR IGNORE t SET a = ?", "SELECT rowid FROM t",
        "SELECT group_concat(role) FROM r", "SELECT json_group_array(x) FROM t", "SELECT name FROM sqlite_master",
        "PRAGMA table_info(t)", "SELECT 1 WHERE a = ?1", "SELECT date('now')", "SELECT ifnull(a, 0) FROM t",
        "SELECT a FROM t LIMIT -1", "SELECT a FROM t WHERE b IN ()",
    ]
    for idiom, sample in zip(SQLITE_ONLY, samples, strict=True):
        assert re.search(idiom, sample), (idiom, sample)
    for portable in ("INSERT INTO t(a) VALUES (?) ON CONFLICT DO NOTHING", "SELECT a FROM t WHERE updated_at < ?",
                     "SELECT person_id, role FROM person_roles WHERE person_id IN ({ids})"):
        assert not any(re.search(idiom, portable) for idiom in SQLITE_ONLY), portable
