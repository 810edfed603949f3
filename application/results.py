"""What a command hands back."""

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Changed(Generic[T]):
    """The changed thing, and the notification position of the last event the command wrote.

    ``position`` is None when the command wrote nothing (it found the change already made);
    clients wait for ``position`` before reading a view, for read-your-writes.
    """

    value: T
    position: int | None
