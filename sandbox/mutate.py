"""`POST /__sandbox/mutate`: change the world behind the API's back, as real orgs do."""

from __future__ import annotations

from typing import Any

from sandbox.salesforce_schema import FieldDef
from sandbox.store import Store


def _store_value(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _object(store: Store, name: str) -> str:
    obj = store.canonical_object(name)
    if obj is None:
        raise ValueError(f"unknown object {name!r}")
    return obj


def apply_ops(store: Store, ops: list[dict[str, Any]]) -> int:
    """Apply each op in order; returns how many were applied. Raises ValueError naming a bad op."""
    for i, op in enumerate(ops):
        kind = op.get("op")
        obj = _object(store, op.get("object", ""))
        if kind == "set":
            if store.get(obj, op["id"]) is None:
                raise ValueError(f"ops[{i}]: no {obj} with id {op['id']!r}")
            values = {}
            for name, value in op.get("fields", {}).items():
                f = store.field(obj, name)
                if f is None:
                    raise ValueError(f"ops[{i}]: no field {name!r} on {obj}")
                values[f.name] = _store_value(value)
            store.update(obj, op["id"], values, touch=bool(op.get("touch", True)))
        elif kind == "hard_delete":
            for record_id in op.get("ids", []):
                store.delete(obj, record_id, hard=True)
        elif kind == "add_field":
            spec = {k: v for k, v in op.items() if k not in ("op", "object", "field")}
            if "reference_to" in spec:
                spec["reference_to"] = tuple(spec["reference_to"])
            store.add_field(obj, FieldDef(name=op["field"], custom=op["field"].endswith("__c"), **spec))
        elif kind == "rename_field":
            store.rename_field(obj, op["field"], op["new_name"])
        elif kind == "drop_field":
            store.drop_field(obj, op["field"])
        else:
            raise ValueError(
                f"ops[{i}]: unknown op {kind!r} (set, hard_delete, add_field, rename_field, drop_field)"
            )
    return len(ops)
