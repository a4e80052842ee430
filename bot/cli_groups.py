"""Sub-command groups of `schoolbot` that several capabilities add to.

A module of its own so that `python -m bot.cli` (where the CLI module is `__main__`) and the
capabilities importing it share one instance.
"""

from __future__ import annotations

import argparse

_export_targets: argparse._SubParsersAction[argparse.ArgumentParser] | None = None


def make_export_group(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    global _export_targets
    parser = sub.add_parser("export", help="export registers and reports")
    _export_targets = parser.add_subparsers(dest="export_what", required=True, metavar="WHAT")


def export_targets() -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The `schoolbot export WHAT` group, to which capabilities add what they export."""
    assert _export_targets is not None, "the CLI creates the export group before the extra commands"
    return _export_targets
