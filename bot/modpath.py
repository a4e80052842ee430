"""Our functions named by module path, "package.module:Qualified.name", resolved when used.

The bot's declarations (bot/capabilities.py: routers, handler-side screens; bot/cli_specs.py: every
`schoolbot` command) name what they mean this way so that reading them loads nothing: `schoolbot
backup` never imports aiogram or the handlers, `--help` never imports a service. An `import` would
load it all, and tests/test_layering.py forbids deferring our imports into function bodies.
tests/test_declared_paths.py resolves every declared path, so a misspelt one fails a test, not a
command.
"""

from __future__ import annotations

import importlib
from typing import Any


def split(path: str) -> tuple[str, str]:
    """("package.module", "Qualified.name") of "package.module:Qualified.name"."""
    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise ValueError(f"not a module path: {path!r} (expected 'package.module:name')")
    return module, qualname


def resolve(path: str) -> Any:
    """The object a module path names, its module imported now."""
    module, qualname = split(path)
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found
