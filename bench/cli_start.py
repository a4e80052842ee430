"""How long `schoolbot` takes to answer before it does anything: `python -X importtime` for the
light answers (`--help`, a usage error) and for a command's full import, with the modules that cost
most. Run: `python -m bench.cli_start`. Prints a table; never asserted (the machine varies)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

TARGET_S = 1.0
HEAVY = ("aiogram", "fpdf", "openpyxl", "matplotlib", "PIL", "qrcode", "pymorphy3", "bot.app")


@dataclass
class Sample:
    argv: list[str]
    wall_s: float
    imports_s: float
    heavy: list[str]
    top: list[tuple[str, float]]


def measure(argv: list[str]) -> Sample:
    """One run of `python -X importtime -m bot.cli ARGV` (or an import of the full command line
    when ARGV is empty)."""
    code = ["-m", "bot.cli", *argv] if argv else ["-c", "import bot.cli_app"]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *code], capture_output=True, text=True,  # noqa: S603
                          check=False, timeout=300)
    wall = time.perf_counter() - started
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
    heavy = sorted({m.split(".")[0] if not m.startswith("bot.") else m for m in modules
                    if m.startswith(HEAVY)})
    top = sorted(modules.items(), key=lambda kv: kv[1], reverse=True)[:3]
    return Sample(argv, wall, total, heavy, top)


def main() -> None:
    cases = [["--help"], ["--lang", "en", "--help"], []]
    table = Table(title=f"schoolbot start-up (target for light answers: < {TARGET_S:.0f} s)")
    for column in ("command", "wall, s", "imports, s", "heavy modules loaded", "costliest imports"):
        table.add_column(column)
    for argv in cases:
        s = measure(argv)
        name = "schoolbot " + " ".join(argv) if argv else "any command (import bot.cli_app)"
        table.add_row(name, f"{s.wall_s:.2f}", f"{s.imports_s:.2f}", ", ".join(s.heavy) or "none",
                      "; ".join(f"{m} {t:.2f}" for m, t in s.top))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
