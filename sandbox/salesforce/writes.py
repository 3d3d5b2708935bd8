"""Record writes shared by REST, sObject Collections and Bulk ingest: validate every row, then apply the
clean ones (or none of them under allOrNone), each with its own outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.salesforce import access
from sandbox.salesforce.errors import RowError
from sandbox.salesforce.schema import HARD_DELETE_OBJECTS
from sandbox.salesforce.values import id18, prepare
from sandbox.store import Store

Kind = Literal["insert", "update", "delete", "hardDelete"]
# Objects the API may read but not change (system-maintained history, the org record).
READ_ONLY_OBJECTS = frozenset({"OpportunityHistory", "Organization"})
UNDELETABLE_OBJECTS = frozenset({"User", *READ_ONLY_OBJECTS})


@dataclass
class Op:
    kind: Kind
    obj: str
    id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    error: RowError | None = None  # known before checking (e.g. an ambiguous upsert key)


@dataclass
class Outcome:
    id: str | None
    created: bool = False
    error: RowError | None = None

    @property
    def success(self) -> bool:
        return self.error is None


def existing(store: Store, obj: str, ids: list[str]) -> dict[str, bool]:
    """{id: is_deleted} for those of ``ids`` that exist."""
    if store.canonical_object(obj) != obj:
        return {}
    has_deleted = store.field(obj, "IsDeleted") is not None
    out: dict[str, bool] = {}
    with store.lock:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            cols = '"Id", "IsDeleted"' if has_deleted else '"Id", 0'
            sql = f'SELECT {cols} FROM "{obj}" WHERE "Id" IN ({", ".join("?" * len(chunk))})'
            out.update({r[0]: bool(r[1]) for r in store.conn.execute(sql, chunk)})
    return out


def _check(store: Store, op: Op, found: dict[str, bool], user_id: str) -> dict[str, Any]:
    """The op's values in store encoding, or RowError."""
    if op.error:
        raise op.error
    if op.kind == "insert":
        if op.obj in READ_ONLY_OBJECTS:
            raise RowError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
        return _permitted(store, op, prepare(store, op.obj, op.data, creating=True, user_id=user_id), user_id)
    if not op.id:
        raise RowError("MISSING_ARGUMENT", f"Id not specified in an {op.kind} call")
    if op.id not in found:
        raise RowError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if found[op.id]:
        raise RowError("ENTITY_IS_DELETED", "entity is deleted")
    if op.kind == "update":
        if op.obj in READ_ONLY_OBJECTS:
            raise RowError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
        return _permitted(
            store, op, prepare(store, op.obj, op.data, creating=False, user_id=user_id), user_id
        )
    if op.obj in UNDELETABLE_OBJECTS:
        raise RowError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
    return _permitted(store, op, {}, user_id)


def _permitted(store: Store, op: Op, values: dict[str, Any], user_id: str) -> dict[str, Any]:
    """The values, once this user may write them: edit access to each field it sets (sandbox/salesforce/access.py),
    and the administrator alone changes the setup objects."""
    access.check_edit(store, op.obj, [n for n in op.data if n != "attributes" and n.lower() != "id"], user_id)
    access.check_setup_write(store, op.kind, op.obj, op.id, values, user_id)
    return values


def write(
    store: Store,
    ops: list[Op],
    user_id: str,
    *,
    faults: dict[int, str] | None = None,
    all_or_none: bool = False,
) -> list[Outcome]:
    """Validate and apply ``ops`` in order; ``faults`` are injected row failures {index: error code}."""
    faults = faults or {}
    for op in ops:
        if op.id:
            op.id = id18(op.id)
    found: dict[str, bool] = {}
    by_obj: dict[str, list[str]] = {}
    for op in ops:
        if op.kind != "insert" and op.id:
            by_obj.setdefault(op.obj, []).append(op.id)
    for obj, ids in by_obj.items():
        found.update(existing(store, obj, ids))

    outcomes: list[Outcome] = []
    values: list[dict[str, Any]] = []
    for i, op in enumerate(ops):
        outcome, checked = Outcome(op.id), {}
        try:
            if i in faults:
                raise RowError.fault(faults[i])
            checked = _check(store, op, found, user_id)
        except RowError as e:
            outcome.error = e
        outcomes.append(outcome)
        values.append(checked)

    if all_or_none and not all(o.success for o in outcomes):
        for o in outcomes:
            o.error = o.error or RowError.rolled_back()
        return outcomes

    inserts: dict[str, list[int]] = {}
    for i, (op, o) in enumerate(zip(ops, outcomes, strict=True)):
        if o.success and op.kind == "insert":
            inserts.setdefault(op.obj, []).append(i)
    for obj, rows in inserts.items():
        ids = store.insert(obj, [values[i] for i in rows], user_id=user_id)
        for i, new_id in zip(rows, ids, strict=True):
            outcomes[i].id, outcomes[i].created = new_id, True
    with store.transaction():
        for op, o, vals in zip(ops, outcomes, values, strict=True):
            if not o.success or op.kind == "insert":
                continue
            assert op.id is not None
            if op.kind == "update":
                modified_by = {"LastModifiedById": user_id} if store.field(op.obj, "LastModifiedById") else {}
                store.update(op.obj, op.id, {**vals, **modified_by})
            else:
                store.delete(op.obj, op.id, hard=op.kind == "hardDelete" or op.obj in HARD_DELETE_OBJECTS)
    return outcomes
