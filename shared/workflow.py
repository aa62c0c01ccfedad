"""A status workflow: which status may follow which. Used by every service whose staff move things along."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(Exception):
    def __init__(self, current: StrEnum, to: StrEnum, allowed: list[str]):
        self.current, self.to, self.allowed = current, to, allowed
        listed = ", ".join(allowed) or "none: it is closed"
        super().__init__(f"cannot go from {current} to {to}; allowed from {current}: {listed}")


class Workflow(Generic[S]):
    def __init__(self, allowed: Mapping[S, frozenset[S]]):
        self.allowed = dict(allowed)

    def check(self, current: S, to: S) -> None:
        if to not in self.allowed[current]:
            raise IllegalTransition(current, to, sorted(self.allowed[current]))

    def next_statuses(self, current: S) -> list[S]:
        return sorted(self.allowed[current])

    def open_statuses(self) -> list[S]:
        """The statuses someone can still move on from: the work still to do."""
        return sorted(status for status, moves in self.allowed.items() if moves)

    def final_statuses(self) -> list[S]:
        return sorted(status for status, moves in self.allowed.items() if not moves)
