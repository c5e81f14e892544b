"""The generated loop that turns decoded wire structs into records (``_codec``, Rule 2).

Generated from a record's field table, once per record type, so the common case runs
no per-field dispatch: a copy, a cache look-up or one hook call per value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ._values import _DATETIME_CACHE

if TYPE_CHECKING:
    from ._codec import _Field

__all__ = ["compile_converter"]


def compile_converter(cls: type, fields: Sequence[_Field]) -> Callable[[list[Any]], Any]:
    """The loop that turns a list of wire structs into records, generated from the table.

    Each struct is replaced by its record in place: a page never holds both, and each
    record allocated is a struct freed, which keeps the garbage collector's allocation
    count flat while a page is built (young records are then not swept along into the
    older generations, whose collections are the expensive ones).

    Records are built through a mutable twin class with the same slots (plain attribute
    stores), whose objects then become ``cls`` by a class switch: several times cheaper
    than the attrs ``__init__`` of a frozen class (an ``object.__setattr__`` call a
    field). That is only the same object when ``__init__`` does nothing but store the
    fields, and Python only allows the switch between identical layouts (on 3.10 and 3.11,
    ``__weakref__`` must come from a base: ``_models._WeakRefSlot``). Any class that
    validates, converts, has an init hook, or whose layout Python refuses (tried once,
    here) is built by calling ``cls`` instead.

    A value the loop cannot take as it is goes through its hook, which raises
    :class:`_InvalidValue`; the caller then reads the body again the slow way (Rule 2).
    """
    namespace: dict[str, Any] = {"_cls": cls, "_Decimal": Decimal, "_date": _DATETIME_CACHE.get}
    # Per field: the statements before, and the expression of its value.
    reads: list[tuple[list[str], str]] = []
    for number, field in enumerate(fields):
        hook, default = f"_hook{number}", f"_default{number}"
        namespace[hook] = field.kind.wire_hook or field.kind.hook
        namespace[default] = field.default
        value = f"s.{field.attribute}"
        fast = field.kind.fast
        if fast == "copy":
            reads.append(([], value))
        elif fast == "money":
            reads.append(([f"v = {value}"], f"v if type(v) is _Decimal else {hook}(v)"))
        elif fast == "datetime":
            reads.append(([f"v = {value}"], f"_date(v) or {hook}(v)"))
        elif field.required:
            reads.append(([], f"{hook}({value})"))
        else:
            reads.append(([f"v = {value}"], f"v if v is {default} else {hook}(v)"))
    lines = []
    twin = _mutable_twin(cls)
    if twin is None:
        for number, (before, expression) in enumerate(reads):
            lines += [*before, f"f{number} = {expression}"]
        lines.append(f"wires[i] = _cls({', '.join(f'f{n}' for n in range(len(fields)))})")
    else:
        namespace["_Twin"] = twin
        lines.append("r = _Twin()")
        for field, (before, expression) in zip(fields, reads, strict=True):
            lines += [*before, f"r.{field.attribute} = {expression}"]
        lines += ["r.__class__ = _cls", "wires[i] = r"]
    body = "\n".join(f"        {line}" for line in lines)
    source = (
        f"def convert_{cls.__name__}(wires):\n"
        f"    for i, s in enumerate(wires):\n{body}\n"
        f"    return tuple(wires)\n"
    )
    exec(compile(source, f"<{cls.__name__} converter>", "exec"), namespace)  # noqa: S102 (our own text)
    converter: Callable[[list[Any]], Any] = namespace[f"convert_{cls.__name__}"]
    return converter


def _mutable_twin(cls: type) -> type | None:
    """A mutable class whose objects can become ``cls`` objects, or ``None`` (see above)."""
    for attribute in attrs.fields(cls):
        if attribute.validator is not None or attribute.converter is not None:
            return None
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        return None
    names = tuple(attribute.name for attribute in attrs.fields(cls))
    base = cls.__base__ or object
    if attrs.has(base):  # fields inherited from a record: its slots and __init__ are its own
        return None
    twin = type(f"_{cls.__name__}Twin", (base,), {"__slots__": names})
    trial: Any = twin()
    for name in names:
        setattr(trial, name, name)
    try:
        trial.__class__ = cls
    except TypeError:
        return None
    if attrs.astuple(trial, recurse=False) != names:  # the slots must line up
        return None
    return twin
