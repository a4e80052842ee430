"""The type of argparse's sub-command group, which bot/cli_specs.py's command declarations add to."""

from __future__ import annotations

import argparse
from typing import TypeAlias

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
