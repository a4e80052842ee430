"""How a sandbox run is set up (the `schoolbot sandbox` options)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.i18n import Translator


class SandboxProblem(ValueError):
    """A wrong time, option or script, said in the reader's language where it is shown: a catalog
    key under `sandbox.` and its values (the sandbox speaks Russian, or English with --lang en)."""

    def __init__(self, key: str, /, *, area: str = "sandbox", **params: object) -> None:
        super().__init__(f"{area}.{key}", params)
        self.key = f"{area}.{key}"
        self.params: dict[str, object] = params

    def text(self, t: Translator) -> str:
        # A value may itself be a problem to word (an import error inside the demo's report).
        return t(self.key, **{k: v.text(t) if isinstance(v, SandboxProblem) else v for k, v in self.params.items()})


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
