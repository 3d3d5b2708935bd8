"""Field values between the store's encoding and what the API sends and receives (JSON and Bulk CSV),
and the checks Salesforce applies to every written record."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sandbox.salesforce.errors import RowError
from sandbox.salesforce.schema import LEAD_STATUSES, FieldDef
from sandbox.store import Store, salesforce_id, sf_datetime

NUMBER_TYPES = frozenset({"double", "currency", "percent"})
TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "email", "phone", "url", "textarea", "id", "reference"}
)
# What an insert gets when it leaves a non-nillable field out (Salesforce's default picklist value).
DEFAULTS: dict[tuple[str, str], Any] = {("Lead", "Status"): LEAD_STATUSES[0]}
BULK_NULL = "#N/A"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def json_value(type_: str, value: Any) -> Any:
    """A stored value as Salesforce's JSON types it (datetimes are stored in the JSON format already)."""
    if value is None:
        return None
    if type_ == "boolean":
        return bool(value)
    if type_ == "int":
        return int(value)
    if type_ in NUMBER_TYPES:
        return float(value)
    return value


def id18(value: str) -> str:
    """Salesforce accepts 15-character ids anywhere an 18-character one goes."""
    if len(value) != 15:
        return value
    body = value[3:].lstrip("0")
    n = 0
    for c in body:
        n = n * 62 + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".index(c)
    full = salesforce_id(value[:3], n)
    return full if full[:15] == value else value


def _label(f: FieldDef) -> str:
    return f.label or f.name


def _type_error(f: FieldDef, raw: Any) -> RowError:
    return RowError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{_label(f)}: value not of required type: {raw}", [f.name]
    )


def _parse_datetime(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return sf_datetime(moment)


def coerce(f: FieldDef, raw: Any, store: Store) -> Any:
    """One incoming value (JSON value or CSV cell text) in store encoding; raises RowError as Salesforce would."""
    if raw is None or raw == "":
        return None
    t = f.type
    try:
        if t == "boolean":
            if isinstance(raw, bool):
                return int(raw)
            text = str(raw).strip().lower()
            if text in _TRUE or text in _FALSE:
                return int(text in _TRUE)
            raise ValueError(raw)
        if t == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(float(raw)) if isinstance(raw, str) and "." in raw else int(raw)
        if t in NUMBER_TYPES:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if t == "date":
            return date.fromisoformat(str(raw)[:10]).isoformat()
        if t == "datetime":
            return _parse_datetime(str(raw))
    except ValueError:
        raise _type_error(f, raw) from None
    if isinstance(raw, (dict, list)):
        raise _type_error(f, raw)
    text = str(raw)
    if t in ("reference", "id"):
        return _reference(f, text, store)
    if f.length and len(text) > f.length:
        raise RowError(
            "STRING_TOO_LONG", f"{_label(f)}: data value too large: {text} (max length={f.length})", [f.name]
        )
    if t == "email" and not _EMAIL.match(text):
        raise RowError("INVALID_EMAIL_ADDRESS", f"{_label(f)}: invalid email address: {text}", [f.name])
    return text


def _reference(f: FieldDef, text: str, store: Store) -> str:
    prefixes = {store.key_prefix(o) for o in f.reference_to if store.canonical_object(o)}
    if not _ID.match(text) or (prefixes and text[:3] not in prefixes):
        raise RowError("MALFORMED_ID", f"{_label(f)}: id value of incorrect type: {text}", [f.name])
    return id18(text)


def prepare(store: Store, obj: str, data: dict[str, Any], *, creating: bool, user_id: str) -> dict[str, Any]:
    """Check one record's incoming fields and return them in store encoding, with the defaults an insert
    gets. Keys are matched case-insensitively; ``attributes`` and, for updates, ``Id`` are not fields."""
    fields: dict[FieldDef, Any] = {}
    for key, raw in data.items():
        if key == "attributes" or (not creating and key.lower() == "id"):
            continue
        f = store.field(obj, key)
        if f is None:
            raise RowError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}")
        fields[f] = raw
    locked = [f.name for f in fields if not (f.createable if creating else f.updateable)]
    if locked:
        raise RowError.not_writable(locked)
    values = {f.name: coerce(f, raw, store) for f, raw in fields.items()}
    if creating:
        for f in store.fields(obj):
            if values.get(f.name) is not None:
                continue
            if f.type == "boolean":
                values[f.name] = 0
            elif (obj, f.name) in DEFAULTS:
                values[f.name] = DEFAULTS[(obj, f.name)]
            elif f.name == "OwnerId":
                values[f.name] = user_id
    missing = [
        f.name
        for f in store.fields(obj)
        if not f.nillable
        and f.createable
        and (f.name in values if not creating else True)
        and values.get(f.name) is None
    ]
    if missing:
        raise RowError(
            "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
        )
    return values
