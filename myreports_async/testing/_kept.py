"""The attributes :class:`~._service.FakeService` forwards to the room that keeps them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

if TYPE_CHECKING:
    from ._service import FakeService

__all__ = ["Kept"]

T = TypeVar("T")


class Kept(Generic[T]):
    """An attribute of :class:`FakeService` kept by one of its rooms.

    Reading and writing go to ``room.name``, so the room always sees the value a test set
    between two requests, and the service holds no copy that could disagree.
    """

    def __init__(self, room: str, name: str) -> None:
        self._room = room
        self._name = name

    @overload
    def __get__(self, service: None, owner: type[Any]) -> Kept[T]: ...
    @overload
    def __get__(self, service: FakeService, owner: type[Any]) -> T: ...
    def __get__(self, service: FakeService | None, owner: type[Any]) -> Kept[T] | T:
        if service is None:
            return self
        value: T = getattr(getattr(service, self._room), self._name)
        return value

    def __set__(self, service: FakeService, value: T) -> None:
        setattr(getattr(service, self._room), self._name, value)
