"""Errors raised by the applications, beside the domain's own."""

from uuid import UUID

from domain.errors import InvalidCommand, StateConflict


class NotFound(Exception):
    """No aggregate of the asked-for kind has this id."""

    def __init__(self, kind: str, aggregate_id: UUID) -> None:
        super().__init__(f"no {kind} with id {aggregate_id}")
        self.kind = kind
        self.aggregate_id = aggregate_id


class ConcurrentChange(StateConflict):
    """Someone else changed the aggregate first (same version written twice); retry."""


class AlreadyExists(StateConflict):
    """The aggregate this command would create exists already."""


class IdempotencyKeyReused(InvalidCommand):
    """The idempotency key was used before for a different request."""
