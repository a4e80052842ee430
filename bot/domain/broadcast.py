"""A broadcast's progress as a value (#27): storage counts it, the broadcast service shows it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    failed: int  # dead or cancelled (unreachable)
    left: int  # pending

    @property
    def done(self) -> bool:
        return self.left == 0
