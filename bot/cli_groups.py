"""Sub-command groups of `schoolbot` that several capabilities add to."""

from __future__ import annotations

import argparse


def make_export_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The `schoolbot export WHAT` group, to which capabilities add what they export."""
    parser = sub.add_parser("export", help="export registers and reports")
    return parser.add_subparsers(dest="export_what", required=True, metavar="WHAT")
