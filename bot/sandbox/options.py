"""How a sandbox run is set up (the `schoolbot sandbox` options)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass
class SandboxOptions:
    data_dir: Path = Path("sandbox-data")
    start: datetime | None = None  # aware; None: the next working day 10:00 in the school's tz
    keep: bool = False
    # When False the demo data is not loaded (tests that want an empty school).
    demo: bool = True
    prelink: bool = True
    lang: str = "ru"
    # Serve MAX beside Telegram (fake MAX server, MAX_TOKEN set): people can be played on either.
    max: bool = False
