"""What the register refuses: errors that name the field and the value."""

from __future__ import annotations


class RegisterError(ValueError):
    """A request the register refuses; ``field`` and ``value`` name what is wrong."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field}: {value!r} {problem}")


class ConflictError(RegisterError):
    """The case changed since the caller read it (optimistic concurrency)."""
