"""The Tooling API's custom fields: ``POST tooling/sobjects/CustomField`` (the administrator only) adds a field
to an object — it appears in the object's describe and is queryable and writable at once, restricted to those
a permission set grants it (sandbox/salesforce/access.py) — and ``GET tooling/query`` reads ``CustomField``:
every custom field of every object, with its Id, DeveloperName (the API name without ``__c``) and
TableEnumOrId (the object's name)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from sandbox.salesforce import access
from sandbox.salesforce.calls import Call
from sandbox.salesforce.errors import SfError, json_response
from sandbox.salesforce.schema import FieldDef
from sandbox.salesforce.soql import (
    Comparison,
    Condition,
    Junction,
    Negation,
    SoqlError,
    parse,
    string_literal,
)
from sandbox.store import Store, salesforce_id

_PREFIX = "00N"
_COLUMNS = ("Id", "DeveloperName", "TableEnumOrId")
_MAX_PRECISION = 18


def _field_def(name: str, meta: dict[str, Any]) -> FieldDef:
    """The field a CustomField's Metadata asks for; a 400 naming what is wrong, as Salesforce answers."""
    label, kind = meta.get("label"), meta.get("type")
    if not label:
        raise SfError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Label]", ["Label"])
    if kind == "Number":
        precision, scale = meta.get("precision"), meta.get("scale", 0)
        if not isinstance(precision, int) or not isinstance(scale, int) or not 0 <= scale <= precision:
            raise SfError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                "Number fields need an integer precision (total digits) and a scale no larger than it",
                ["Precision"],
            )
        if precision > _MAX_PRECISION:
            raise SfError(
                400, "FIELD_INTEGRITY_EXCEPTION", "The maximum length for a Number field is 18", ["Precision"]
            )
        return FieldDef(name, "double", label, precision=precision, scale=scale, custom=True)
    if kind == "Checkbox":
        if meta.get("defaultValue") not in ("true", "false", True, False):
            raise SfError(
                400, "FIELD_INTEGRITY_EXCEPTION", "Checkbox fields require a default value", ["DefaultValue"]
            )
        return FieldDef(name, "boolean", label, nillable=False, custom=True)
    if kind in ("DateTime", "Date"):
        return FieldDef(name, kind.lower(), label, custom=True)
    if kind == "Text":
        length = meta.get("length")
        if not isinstance(length, int) or not 1 <= length <= 255:
            raise SfError(
                400, "FIELD_INTEGRITY_EXCEPTION", "Text fields need a length of 1 to 255", ["Length"]
            )
        return FieldDef(name, "string", label, length=length, custom=True)
    raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", f"The field type {kind!r} is not supported", ["Type"])


def _matches(soql: str, cond: Condition | None, row: dict[str, str]) -> bool:
    if cond is None:
        return True
    if isinstance(cond, Negation):
        return not _matches(soql, cond.item, row)
    if isinstance(cond, Junction):
        results = (_matches(soql, c, row) for c in cond.items)
        return all(results) if cond.op == "AND" else any(results)
    return _compare(soql, cond, row)


def _compare(soql: str, cond: Comparison, row: dict[str, str]) -> bool:
    name = _column(soql, cond.field.parts, cond.field.token.pos)
    if cond.op not in ("=", "!=", "IN", "NOT IN") or any(v.token.kind != "string" for v in cond.values):
        raise SoqlError("MALFORMED_QUERY", f"CustomField is filtered by string equality or IN only: {soql}")
    values = {string_literal(soql, v).lower() for v in cond.values}
    found = row[name].lower() in values
    return not found if cond.op in ("!=", "NOT IN") else found


def _column(soql: str, parts: tuple[str, ...], pos: int) -> str:
    name = next((c for c in _COLUMNS if len(parts) == 1 and c.lower() == parts[0].lower()), None)
    if name is None:
        raise SoqlError(
            "INVALID_FIELD", f"No such column '{'.'.join(parts)}' on entity 'CustomField' (at {pos}): {soql}"
        )
    return name


class Tooling:
    def __init__(self, store: Store):
        self.store = store
        with store.transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS sf_custom_field_ids (object TEXT, field TEXT, id TEXT, "
                "PRIMARY KEY (object, field))"
            )

    def _rows(self) -> list[dict[str, str]]:
        """Every custom field, each with the Id it keeps for its life."""
        fields = [(obj, f.name) for obj in self.store.objects() for f in self.store.fields(obj) if f.custom]
        with self.store.transaction() as c:
            for obj, name in fields:
                if c.execute(
                    "SELECT 1 FROM sf_custom_field_ids WHERE object = ? AND field = ?", (obj, name)
                ).fetchone():
                    continue
                (n,) = c.execute("SELECT COUNT(*) + 1 FROM sf_custom_field_ids").fetchone()
                c.execute(
                    "INSERT INTO sf_custom_field_ids VALUES (?, ?, ?)", (obj, name, salesforce_id(_PREFIX, n))
                )
            ids = {(o, f): i for o, f, i in c.execute("SELECT object, field, id FROM sf_custom_field_ids")}
        return [
            {"Id": ids[(obj, name)], "DeveloperName": name.removesuffix("__c"), "TableEnumOrId": obj}
            for obj, name in fields
        ]

    def query(self, call: Call) -> Response:
        soql = call.query.get("q") or ""
        try:
            query = parse(soql)
            if query.object.text.lower() != "customfield":
                raise SoqlError(
                    "INVALID_TYPE",
                    f"sObject type '{query.object.text}' is not supported by this sandbox's Tooling API",
                )
            columns = [_column(soql, ref.parts, ref.token.pos) for ref in query.fields]
            rows = [r for r in self._rows() if _matches(soql, query.where, r)]
        except SoqlError as e:
            raise SfError(400, e.error_code, e.message) from None
        records = [
            {
                "attributes": {
                    "type": "CustomField",
                    "url": f"{call.prefix()}/tooling/sobjects/CustomField/{r['Id']}",
                },
                **{c: r[c] for c in columns},
            }
            for r in rows[: query.limit]
        ]
        return json_response(
            {
                "size": len(records),
                "totalSize": len(records),
                "done": True,
                "queryLocator": None,
                "entityTypeName": "CustomField",
                "records": records,
            }
        )

    def create_field(self, call: Call) -> Response:
        if not access.is_admin(self.store, call.user_id):
            raise SfError(403, "INSUFFICIENT_ACCESS", "insufficient access rights on cross-reference id")
        body = call.json()
        full_name = body.get("FullName") if isinstance(body, dict) else None
        meta = body.get("Metadata") if isinstance(body, dict) else None
        obj_name, _, name = str(full_name or "").partition(".")
        obj = self.store.canonical_object(obj_name)
        if (
            obj is None
            or obj in access.SETUP_OBJECTS
            or not name.endswith("__c")
            or not isinstance(meta, dict)
        ):
            raise SfError(
                400,
                "INVALID_FIELD",
                f"FullName {full_name!r} must be Object.Name__c on a custom-field-capable object, with Metadata",
                ["FullName"],
            )
        if self.store.field(obj, name) is not None:
            raise SfError(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"There is already a field named {name.removesuffix('__c')} on {obj}.",
                [],
            )
        field = _field_def(name, meta)
        self.store.add_field(obj, field)
        access.restrict(self.store, obj, name)
        (row,) = (r for r in self._rows() if r["TableEnumOrId"] == obj and r["DeveloperName"] == name[:-3])
        return json_response(
            {"id": row["Id"], "success": True, "errors": [], "warnings": [], "infos": []}, 201
        )
