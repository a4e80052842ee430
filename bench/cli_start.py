"""How long `schoolbot` takes to answer: each case is one `python -X importtime -m bot.cli ARGV` in a
fresh interpreter, against a scratch database (made by the first case that writes), timed from
outside (wall and CPU) and read for what it imported: the time spent importing, the heavy modules
loaded and the costliest imports. Light answers (`--help`, a command's `--help`, a command that
sends and draws nothing) should stay under a second; `export report` renders and is listed for
comparison. Run: `python -m bench.cli_start [--root OTHER_CHECKOUT]` (`--root` measures another
tree, e.g. main before a change). Prints a table; never asserted (the machine varies: CPU time
is the steadier figure on a busy machine)."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGET_S = 1.0
HEAVY = ("aiogram", "fpdf", "openpyxl", "matplotlib", "PIL", "qrcode", "pymorphy3", "bot.app", "handlers")
ROOT = Path(__file__).resolve().parents[1]
ROSTER = "ФИО;Роль;Класс\nИванов Иван Иванович;учитель;\nПетрова Анна Сергеевна;ученик;5А\n"
CASES: list[list[str]] = [
    ["--help"],
    ["backup", "--help"],
    ["import", "roster", "roster.csv"],   # makes the scratch database the next cases read
    ["backup"],
    ["reminders", "--dry-run"],
    ["verify-ledger"],
    ["export", "report", "--out", "report.xlsx"],
]


@dataclass
class Sample:
    argv: list[str]
    code: int
    wall_s: float
    cpu_s: float
    imports_s: float
    heavy: list[str]
    top: list[tuple[str, float]]


def measure(argv: list[str], *, root: Path, folder: Path) -> Sample:
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "ADMIN_IDS"}}
    env.update({"PYTHONPATH": str(root), "LANG": "C.UTF-8", "DATABASE_PATH": str(folder / "db.sqlite3"),
                "SCHOOL_CONFIG": str(root / "content" / "school.example.toml")})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot.cli", *argv],  # noqa: S603
                          capture_output=True, text=True, check=False, timeout=300, env=env, cwd=folder)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    modules: dict[str, float] = {}
    total = 0.0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _self_us, cumulative_us, raw_name = line.split(":", 1)[1].split("|")
        name = raw_name[1:]   # one space after the bar; two more per level of nesting
        total_us = int(cumulative_us)
        if not name.startswith(" "):  # a top-level import: its cumulative time counts once
            total += total_us / 1e6
        modules[name.strip()] = total_us / 1e6
    heavy = sorted({m.split(".")[0] if not m.startswith("bot.") else m for m in modules if m.startswith(HEAVY)})
    top = sorted(modules.items(), key=lambda kv: kv[1], reverse=True)[:3]
    return Sample(argv, done.returncode, wall, cpu, total, heavy, top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    root = parser.parse_args().root.resolve()
    table = Table(title=f"schoolbot start-up, {root} (target for light answers: < {TARGET_S:.0f} s)")
    for column in ("command", "exit", "wall, s", "CPU, s", "imports, s", "heavy modules loaded", "costliest imports"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "roster.csv").write_text(ROSTER, encoding="utf-8")
        for argv in CASES:
            s = measure(argv, root=root, folder=folder)
            table.add_row("schoolbot " + " ".join(argv), str(s.code), f"{s.wall_s:.2f}", f"{s.cpu_s:.2f}",
                          f"{s.imports_s:.2f}", ", ".join(s.heavy) or "none",
                          "; ".join(f"{m} {t:.2f}" for m, t in s.top))
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
