"""The type of argparse's sub-command group, which the CLI hands each capability's `register_cli`."""

from __future__ import annotations

import argparse
from typing import TypeAlias

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
