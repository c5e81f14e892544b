"""The bodies of the Enterprise writes: create objects and JSON Patch arrays, checked.

Pure functions: a parsed JSON body in, the camelCase fields to store (or to change) out,
or the message of the 400 the service answers. The routes (``_enterprise_routes``) do the
I/O; the directory (``_directory``) keeps the state.

Rules:

1. Field names match case-insensitively, as the service's model binding does: the
   documented create-customer body sends ``trialduration`` for ``trialDuration``.
   Fields a resource does not have are ignored in a create, as a model binder does.
2. Values are checked by kind: text (a string or null), flag (a boolean; the strings
   ``"true"`` and ``"false"`` too, as the PBX patch example sends ``"true"``), number
   (an integer; a string of digits too, as the create-customer example sends ``"0"``),
   roles (a list of strings), object (a JSON object).
3. A create needs its required fields (``name``; ``email`` and ``displayName`` for a
   user; ``_type`` and ``name``, plus the keys that connect, for a PBX connection):
   else 400 "The <field> field is required." ([inferred] wording, .NET's).
4. A PATCH body is a JSON array of operations ``{"op": "replace", "path": "/name",
   "value": ...}`` (the service's Patch pages). Not an array: 400. Any other ``op``: 400
   (only ``replace`` is documented). A path naming no field of the resource: 400 "The
   target location specified by path segment '<x>' was not found." (documented).
   Every operation is checked before any is applied: a bad one changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from ._replies import shown
from ._tenants import KAZOO, THREE_CX

__all__ = [
    "ACCOUNT_FIELDS",
    "CUSTOMER_FIELDS",
    "PBX_FIELDS",
    "USER_FIELDS",
    "Fields",
    "created_fields",
    "patched_fields",
    "pbx_fields",
]

Kind = Literal["text", "flag", "number", "roles", "object"]
Fields = Mapping[str, Kind]
"""The writable fields of a resource: camelCase name -> kind of value (rule 2)."""

ACCOUNT_FIELDS: Final[Fields] = {
    "name": "text",
    "description": "text",
    "reference": "text",
    "enabled": "flag",
    "timezone": "text",
    "countryCode": "text",
}
CUSTOMER_FIELDS: Final[Fields] = {
    **ACCOUNT_FIELDS,
    "features": "object",
    "syncAcdAgentWithPbx": "flag",
    "sendNewUserEmail": "flag",
    "sendConnectWelcomeEmail": "flag",
    "tenantProfileType": "text",
    "trialDuration": "number",
}
USER_FIELDS: Final[Fields] = {"displayName": "text", "email": "text", "roles": "roles"}
PBX_FIELDS: Final[Fields] = {
    "name": "text",
    "enabled": "flag",
    "countryCode": "text",
    "hostRest": "text",
    "hostWebsocket": "text",
    "accountId": "text",
    "apiKey": "text",
    "monitorSubAccounts": "flag",
    "licenseKey": "text",
}
_REQUIRED_BY_TYPE: Final = {
    KAZOO: ("name", "hostRest", "accountId", "apiKey"),
    THREE_CX: ("name", "licenseKey"),
}
_BAD: Final = object()


def _value(kind: Kind, value: object) -> object:
    """``value`` as stored, or ``_BAD`` (rule 2)."""
    if kind == "text":
        return value if value is None or isinstance(value, str) else _BAD
    if kind == "flag":
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if isinstance(value, str) else None
        return {"true": True, "false": False}.get(text or "", _BAD)
    if kind == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(value) if isinstance(value, str) and value.strip().isdigit() else _BAD
    if kind == "roles":
        ok = isinstance(value, list) and all(isinstance(role, str) for role in value)
        return list(value) if ok and isinstance(value, list) else _BAD
    return dict(value) if isinstance(value, dict) else _BAD


def _invalid(name: str, value: object) -> str:
    return f"The value '{shown(str(value))}' is not valid for {name}."


def created_fields(body: object, fields: Fields, required: tuple[str, ...]) -> dict[str, Any] | str:
    """The fields a create body sets, or the 400 message (rules 1 to 3)."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    by_lower = {name.lower(): name for name in fields}
    found: dict[str, Any] = {}
    for key, raw in body.items():
        name = by_lower.get(str(key).lower())
        if name is None:
            continue
        value = _value(fields[name], raw)
        if value is _BAD:
            return _invalid(name, raw)
        found[name] = value
    for name in required:
        if found.get(name) in (None, "", []):
            return f"The {name} field is required."
    return found


def pbx_fields(body: object) -> dict[str, Any] | str:
    """The fields of a PBX connection create (``_type`` kept), or the 400 message."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    profile_type = next((v for k, v in body.items() if str(k).lower() == "_type"), None)
    if profile_type not in _REQUIRED_BY_TYPE:
        known = " or ".join(_REQUIRED_BY_TYPE)
        return f"The _type '{shown(str(profile_type))}' is not valid: {known} expected."
    found = created_fields(body, PBX_FIELDS, _REQUIRED_BY_TYPE[profile_type])
    return found if isinstance(found, str) else {"_type": profile_type, **found}


def patched_fields(body: object, fields: Fields) -> dict[str, Any] | str:
    """The fields a JSON Patch replaces, in order, or the 400 message (rule 4)."""
    if not isinstance(body, list):
        return "The request body must be a JSON Patch document: an array of operations."
    by_lower = {name.lower(): name for name in fields}
    changes: dict[str, Any] = {}
    for operation in body:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            return "Each JSON Patch operation must be an object with 'op' and 'path'."
        op = operation.get("op")
        if op != "replace":
            return f"The JSON Patch operation '{shown(str(op))}' is not supported."
        segments = operation["path"].removeprefix("/").split("/")
        name = by_lower.get(segments[0].lower())
        if name is None or len(segments) > 1:
            missing = segments[0] if name is None else segments[1]
            return (
                f"The target location specified by path segment '{shown(missing)}' was not found."
            )
        if "value" not in operation:
            return f"The JSON Patch operation on '{name}' has no value."
        value = _value(fields[name], operation["value"])
        if value is _BAD:
            return _invalid(name, operation["value"])
        changes[name] = value
    return changes
