"""Every script shipped in sandbox/scripts/ passes against the real bot (CI runs them here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.paths import ROOT
from bot.sandbox.options import SandboxOptions
from bot.sandbox.script import run_script

SCRIPTS = sorted((ROOT / "sandbox" / "scripts").glob("*.toml"))


def test_the_main_journeys_are_shipped() -> None:
    assert {p.stem for p in SCRIPTS} >= {"parent", "teacher", "it_officer"}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
async def test_shipped_script_passes(script: Path, tmp_path: Path) -> None:
    result = await run_script(script, SandboxOptions(data_dir=tmp_path / "sandbox"))
    assert result.ok, result.summary() + "\n" + "\n".join(result.transcript)
    assert result.summary() == f"Сценарий «{script.stem}» пройден, шагов: {result.total}."
