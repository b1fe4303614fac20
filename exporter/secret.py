"""A wrapper that keeps secrets out of logs, reprs and exceptions."""

from __future__ import annotations


class Secret:
    """Holds a secret string; ``str`` and ``repr`` print ``'***'``.

    Call :meth:`reveal` at the one place the plain value is needed (signing a
    request, building an IAM token body).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")
