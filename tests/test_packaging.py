"""A non-editable install (`pip install .`, a wheel) carries content/ and starts from it (#27 leftover):
the catalogs, FAQ, plan, consent texts, fonts and the example school.toml were left out of the
wheel, so an installed `schoolbot` could not load its texts. The wheel is built as pip builds it
(from a copy of the source tree, so the checkout gets no build/ folder), every file of content/ must
be inside it, and the code unpacked from it, in an environment that sees neither this checkout nor
its editable install, loads the shared content and the MAX schema the sandbox's fake MAX server
checks against, and answers `schoolbot --help` in Russian."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from bot.paths import ROOT

CONTENT = ROOT / "content"
SOURCES = ("bot", "handlers", "storage", "scheduler", "content", "tests/data/max", "pyproject.toml", "setup.py",
           "MANIFEST.in", "README.md")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")

STARTS = """
import sys
from bot.paths import CONTENT_DIR
from bot.config import EXAMPLE_SCHOOL_CONFIG, parse_school_config
from bot.core import SharedContent
from bot.cli import main
from bot.fakemax.schema import SCHEMA_PATH, load_schema
print("CONTENT", CONTENT_DIR)
print("SCHEMA", SCHEMA_PATH)
SharedContent.load()
load_schema()  # what `schoolbot sandbox --max` starts the fake MAX server with
parse_school_config(EXAMPLE_SCHOOL_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_SCHOOL_CONFIG))
sys.exit(main(["--help"]))
"""


def content_files() -> set[str]:
    return {p.relative_to(CONTENT).as_posix() for p in CONTENT.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.mark.slow
def test_the_wheel_carries_content_and_starts_from_it(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=IGNORED)
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("schoolbot-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    shipped = {name.removeprefix("bot/content/") for name in names if name.startswith("bot/content/")}
    assert content_files() - shipped == set()
    assert {"bot/fakemax/data/schema.yaml", "bot/fakemax/data/LICENSE", "bot/fakemax/data/NOTICE"} <= names
    assert any(n.startswith("storage/migrations/") and n.endswith(".sql") for n in names)  # package-data, as before

    # A fresh environment: the wheel unpacked into its site-packages; the project's dependencies from
    # this one's site-packages as a plain path, so its editable install (a .pth finder) is not loaded.
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip())
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    (site / "schoolbot_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISTRICT_DIR", "SCHOOL_CONFIG")}
    env["LANG"] = "ru_RU.UTF-8"
    started = subprocess.run([str(python), "-c", STARTS], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert started.returncode == 0, started.stderr
    where = next(line.split(" ", 1)[1] for line in started.stdout.splitlines() if line.startswith("CONTENT "))
    assert Path(where) == site / "bot" / "content"
    schema = next(line.split(" ", 1)[1] for line in started.stdout.splitlines() if line.startswith("SCHEMA "))
    assert Path(schema) == site / "bot" / "fakemax" / "data" / "schema.yaml"
    assert "район из многих школ" in started.stdout
