"""`POST /__sandbox/mutate` and `mutate` faults: change the world behind the API's back, as real orgs do."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sandbox.acton.consent import opt_in, opt_out
from sandbox.acton.values import is_valid_email, now_ms
from sandbox.acton.world import API_ORIGIN
from sandbox.salesforce import access
from sandbox.salesforce.schema import FieldDef
from sandbox.store import Store

_SALESFORCE_OPS = ("set", "hard_delete", "add_field", "rename_field", "drop_field", "restrict_field")
_ACTON_OPS: dict[str, Callable[[sqlite3.Connection, str, int, str], bool]] = {
    "acton_opt_in": opt_in,
    "acton_opt_out": opt_out,
}
OPS = (*_SALESFORCE_OPS, *_ACTON_OPS)


def _store_value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _object(store: Store, name: str) -> str:
    obj = store.canonical_object(name)
    if obj is None:
        raise ValueError(f"unknown object {name!r}")
    return obj


def check_names(ops: list[dict[str, Any]]) -> None:
    """Raise ValueError naming the first op that is not one of ``OPS``."""
    for i, op in enumerate(ops):
        if op.get("op") not in OPS:
            raise ValueError(f"ops[{i}]: unknown op {op.get('op')!r} ({', '.join(OPS)})")


def _required(op: dict[str, Any], i: int, key: str) -> Any:
    """An op's argument: one left out is a bad op, never an op that changes nothing."""
    if key not in op:
        raise ValueError(f"ops[{i}]: {op['op']} needs {key!r}")
    return op[key]


def _salesforce_op(store: Store, i: int, op: dict[str, Any]) -> None:
    kind, obj = op["op"], _object(store, op.get("object", ""))
    if kind == "set":
        if store.get(obj, op["id"]) is None:
            raise ValueError(f"ops[{i}]: no {obj} with id {op['id']!r}")
        values = {}
        for name, value in _required(op, i, "fields").items():
            f = store.field(obj, name)
            if f is None:
                raise ValueError(f"ops[{i}]: no field {name!r} on {obj}")
            values[f.name] = _store_value(value)
        store.update(obj, op["id"], values, touch=bool(op.get("touch", True)))
    elif kind == "hard_delete":
        for record_id in _required(op, i, "ids"):
            store.delete(obj, record_id, hard=True)
    elif kind == "add_field":
        spec = {k: v for k, v in op.items() if k not in ("op", "object", "field")}
        if "reference_to" in spec:
            spec["reference_to"] = tuple(spec["reference_to"])
        store.add_field(obj, FieldDef(name=op["field"], custom=op["field"].endswith("__c"), **spec))
    elif kind == "restrict_field":
        # field-level security: only the administrator and the users a permission set grants it see the field
        f = store.field(obj, _required(op, i, "field"))
        if f is None:
            raise ValueError(f"ops[{i}]: no field {op['field']!r} on {obj}")
        access.restrict(store, obj, f.name)
    elif kind == "rename_field":
        store.rename_field(obj, op["field"], op["new_name"])
    else:
        store.drop_field(obj, op["field"])


def _acton_consent(store: Store, i: int, op: dict[str, Any]) -> None:
    """An opt-out or opt-in as if the person made it on Act-On's side (by default on the preference page, as the
    world's own opt-ins); the consent event is kept like any other."""
    email = op.get("email", "")
    if not is_valid_email(email):
        raise ValueError(f"ops[{i}]: invalid email {email!r}")
    with store.transaction() as c:
        _ACTON_OPS[op["op"]](c, email, int(op.get("at_ms", now_ms())), op.get("origin", API_ORIGIN))


def apply_ops(store: Store, ops: list[dict[str, Any]]) -> int:
    """Apply each op in order; returns how many were applied. Raises ValueError naming a bad op."""
    check_names(ops)
    for i, op in enumerate(ops):
        if op["op"] in _ACTON_OPS:
            _acton_consent(store, i, op)
        else:
            _salesforce_op(store, i, op)
    return len(ops)
