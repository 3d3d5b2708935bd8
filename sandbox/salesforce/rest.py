"""REST resources other than query: describe, record CRUD and upsert, sObject Collections, limits and record
counts, and the replication resources (``updated`` / ``deleted``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response

from sandbox.admin.control import Control
from sandbox.salesforce import describe
from sandbox.salesforce.calls import Call
from sandbox.salesforce.errors import SfError, json_response, not_found
from sandbox.salesforce.values import id18, json_value
from sandbox.salesforce.writes import Op, Outcome, write
from sandbox.store import Store, parse_sf_datetime, sf_datetime

MAX_COLLECTION = 200
REPLICATION_DAYS = 30
_FILE_STORAGE_MB = 976_562
# Salesforce's record counts leave out objects associated with others, such as history and share objects
_UNCOUNTED_SUFFIXES = ("History", "Share", "Feed", "ChangeEvent")


def _record_json(
    store: Store, obj: str, row: dict[str, Any], names: list[str], prefix: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {"type": obj, "url": f"{prefix}/sobjects/{obj}/{row['Id']}"}}
    for name in names:
        f = store.field(obj, name)
        assert f is not None
        out[f.name] = json_value(f.type, row.get(f.name))
    return out


def _collection_entry(o: Outcome) -> dict[str, Any]:
    if o.success:
        return {"id": o.id, "success": True, "errors": []}
    entry: dict[str, Any] = {"id": o.id} if o.id else {}
    assert o.error is not None
    return {**entry, "success": False, "errors": [o.error.collection_entry()]}


class Rest:
    def __init__(self, control: Control, bulk_jobs_today: Callable[[str], int]):
        self.control = control
        self.store = control.store
        self.bulk_jobs_today = bulk_jobs_today

    def _object(self, call: Call) -> str:
        obj = self.store.canonical_object(call.params["obj"])
        if obj is None:
            raise not_found()
        return obj

    def _fields(self, obj: str, names: str | None) -> list[str]:
        if not names:
            return [f.name for f in self.store.fields(obj)]
        out = []
        for name in (n.strip() for n in names.split(",") if n.strip()):
            f = self.store.field(obj, name)
            if f is None:
                raise SfError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj}'.")
            out.append(f.name)
        return out

    # -- discovery ------------------------------------------------------------------------------------
    def resources(self, call: Call) -> Response:
        return json_response(describe.resources(call.prefix()))

    def sobjects(self, call: Call) -> Response:
        return json_response(describe.global_describe(self.store, call.prefix()))

    def describe(self, call: Call) -> Response:
        return json_response(describe.describe(self.store, self._object(call), call.prefix(), call.user_id))

    def limits(self, call: Call) -> Response:
        cap = self.control.limits.salesforce_daily_api_max
        used = self.control.calls_today("salesforce")

        def pair(cap: int, used: int) -> dict[str, int]:
            return {"Max": cap, "Remaining": max(0, cap - used)}

        return json_response(
            {
                "DailyApiRequests": pair(cap, used),
                "DailyBulkApiBatches": pair(15_000, self.bulk_jobs_today("ingest")),
                "DailyBulkV2QueryFileStorageMB": pair(_FILE_STORAGE_MB, 0),
                "DailyBulkV2QueryJobs": pair(10_000, self.bulk_jobs_today("query")),
            }
        )

    def record_count(self, call: Call) -> Response:
        """``limits/recordCount``: rows not deleted per object, for the objects named in ``sObjects`` (unknown
        names are left out, as Salesforce does) or every object. Exact, where Salesforce's are a cached
        snapshot that lags a little."""
        named = call.query.get("sObjects")
        if named is None:
            objects = self.store.objects()
        else:
            found = (self.store.canonical_object(n.strip()) for n in named.split(",") if n.strip())
            objects = list(dict.fromkeys(o for o in found if o is not None))
        counts = []
        for obj in objects:
            if obj.endswith(_UNCOUNTED_SUFFIXES):
                continue
            live = ' WHERE "IsDeleted" = 0' if self.store.field(obj, "IsDeleted") else ""
            with self.store.lock:
                (n,) = self.store.conn.execute(f'SELECT COUNT(*) FROM "{obj}"{live}').fetchone()
            counts.append({"count": n, "name": obj})
        return json_response({"sObjects": counts})

    # -- one object -----------------------------------------------------------------------------------
    def sobject(self, call: Call) -> Response:
        """``GET`` basic info, ``POST`` create."""
        obj = self._object(call)
        if call.method == "GET":
            summary = describe.object_summary(self.store, obj, call.prefix())
            return json_response({"objectDescribe": summary, "recentItems": []})
        data = call.json()
        if not isinstance(data, dict):
            raise SfError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
            )
        (o,) = write(self.store, [Op("insert", obj, data=data)], call.user_id)
        if o.error:
            raise o.error.rest_error()
        return json_response({"id": o.id, "success": True, "errors": []}, 201)

    def record(self, call: Call) -> Response:
        """``GET|PATCH|DELETE /sobjects/{obj}/{id}``."""
        obj = self._object(call)
        record_id = id18(call.params["id"])
        row = self.store.get(obj, record_id)
        if row is None:
            raise not_found()
        if row.get("IsDeleted"):
            raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        if call.method == "GET":
            names = self._fields(obj, call.query.get("fields"))
            return json_response(_record_json(self.store, obj, row, names, call.prefix()))
        if call.method == "PATCH":
            data = call.json()
            if not isinstance(data, dict):
                raise SfError(
                    400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
                )
            op = Op("update", obj, record_id, data)
        else:
            op = Op("delete", obj, record_id)
        (o,) = write(self.store, [op], call.user_id)
        if o.error:
            raise o.error.rest_error()
        return Response(status_code=204)

    def _matches(self, obj: str, field_name: str, value: str) -> list[str]:
        f = self.store.field(obj, field_name)
        if f is None or not (f.external_id or f.type == "id"):
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
                code_first=True,
            )
        key = id18(value) if f.type == "id" else value
        deleted = ' AND "IsDeleted" = 0' if self.store.field(obj, "IsDeleted") else ""
        with self.store.lock:
            rows = self.store.conn.execute(f'SELECT "Id" FROM "{obj}" WHERE "{f.name}" = ?{deleted}', (key,))
            return [r[0] for r in rows]

    def by_external_id(self, call: Call) -> Response:
        """``GET`` a record or ``PATCH`` upsert it by an external id field (or Id)."""
        obj, field_name, value = self._object(call), call.params["field"], call.params["value"]
        ids = self._matches(obj, field_name, value)
        if len(ids) > 1:
            return json_response([f"{call.prefix()}/sobjects/{obj}/{i}" for i in ids], 300)
        if call.method == "GET":
            if not ids:
                raise not_found()
            row = self.store.get(obj, ids[0])
            assert row is not None
            names = self._fields(obj, call.query.get("fields"))
            return json_response(_record_json(self.store, obj, row, names, call.prefix()))
        if call.method == "DELETE":
            if not ids:
                raise not_found()
            (o,) = write(self.store, [Op("delete", obj, ids[0])], call.user_id)
            if o.error:
                raise o.error.rest_error()
            return Response(status_code=204)
        data = call.json()
        if not isinstance(data, dict):
            raise SfError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
            )
        ext = self.store.field(obj, field_name)
        assert ext is not None
        if ids:
            op = Op("update", obj, ids[0], {k: v for k, v in data.items() if k.lower() != ext.name.lower()})
        elif ext.type == "id":
            raise not_found()
        else:
            op = Op("insert", obj, data={**data, ext.name: value})
        (o,) = write(self.store, [op], call.user_id)
        if o.error:
            raise o.error.rest_error()
        return json_response(
            {"id": o.id, "success": True, "errors": [], "created": o.created}, 201 if o.created else 200
        )

    # -- sObject Collections --------------------------------------------------------------------------
    def collection(self, call: Call) -> Response:
        if call.method == "DELETE":
            ids = [i for i in call.query.get("ids", "").split(",") if i]
            all_or_none = call.query.get("allOrNone", "false").lower() == "true"
            ops = [Op("delete", self._object_of_id(i), i) for i in ids]
        else:
            body = call.json()
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise SfError(
                    400, "JSON_PARSER_ERROR", "The request body must be an object with a records list"
                )
            all_or_none = bool(body.get("allOrNone", False))
            ops = [self._collection_op(call.method, r) for r in body["records"]]
        if len(ops) > MAX_COLLECTION:
            raise SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                [],
            )
        faults = self.control.row_errors("salesforce", call.method, call.path, len(ops))
        outcomes = write(self.store, ops, call.user_id, faults=faults, all_or_none=all_or_none)
        return json_response([_collection_entry(o) for o in outcomes])

    def _object_of_id(self, record_id: str) -> str:
        prefix = record_id[:3]
        return next((o for o in self.store.objects() if self.store.key_prefix(o) == prefix), "")

    def _collection_op(self, method: str, record: Any) -> Op:
        if not isinstance(record, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        type_name = (record.get("attributes") or {}).get("type")
        obj = self.store.canonical_object(type_name or "")
        if obj is None:
            raise SfError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        data = {k: v for k, v in record.items() if k != "attributes"}
        record_id = next((data.pop(k) for k in list(data) if k.lower() == "id"), None)
        if method == "POST":
            if record_id:
                data["Id"] = record_id  # refused by prepare: Id is not createable
            return Op("insert", obj, data=data)
        return Op("update", obj, record_id, data)

    def collection_get(self, call: Call) -> Response:
        obj = self._object(call)
        names = self._fields(obj, call.query.get("fields"))
        out = []
        for record_id in (id18(i) for i in call.query.get("ids", "").split(",") if i):
            row = self.store.get(obj, record_id)
            live = row is not None and not row.get("IsDeleted")
            out.append(_record_json(self.store, obj, row, names, call.prefix()) if live and row else None)
        return json_response(out)

    # -- replication ----------------------------------------------------------------------------------
    def _window(self, call: Call) -> tuple[datetime, datetime]:
        def parse(name: str) -> datetime:
            text = call.query.get(name)
            if not text:
                raise SfError(400, "MISSING_ARGUMENT", f"{name} parameter is required")
            try:
                moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
            except ValueError:
                raise SfError(400, "INVALID_REPLICATION_DATE", f"invalid {name} date: {text}") from None
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            # Salesforce works on whole minutes.
            return moment.astimezone(UTC).replace(second=0, microsecond=0)

        start, end = parse("start"), parse("end")
        now = datetime.now(UTC)
        if start < now - timedelta(days=REPLICATION_DAYS):
            raise SfError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago")
        if end <= start:
            raise SfError(400, "INVALID_REPLICATION_DATE", "EndDate must chronologically follow StartDate")
        return start, min(end, now)

    def updated(self, call: Call) -> Response:
        obj = self._object(call)
        start, end = self._window(call)
        live = ' AND "IsDeleted" = 0' if self.store.field(obj, "IsDeleted") else ""
        with self.store.lock:
            rows = self.store.conn.execute(
                f'SELECT "Id" FROM "{obj}" WHERE "SystemModstamp" >= ? AND "SystemModstamp" < ?{live} ORDER BY "Id"',
                (sf_datetime(start), sf_datetime(end)),
            ).fetchall()
        return json_response({"ids": [r[0] for r in rows], "latestDateCovered": sf_datetime(end)})

    def deleted(self, call: Call) -> Response:
        obj = self._object(call)
        start, end = self._window(call)
        rows: list[tuple[str, str]] = []
        earliest = sf_datetime(start)
        if self.store.field(obj, "IsDeleted"):
            with self.store.lock:
                rows = self.store.conn.execute(
                    f'SELECT "Id", "SystemModstamp" FROM "{obj}" WHERE "IsDeleted" = 1 '
                    'AND "SystemModstamp" >= ? AND "SystemModstamp" < ? ORDER BY "SystemModstamp"',
                    (sf_datetime(start), sf_datetime(end)),
                ).fetchall()
                (first,) = self.store.conn.execute(
                    f'SELECT MIN("SystemModstamp") FROM "{obj}" WHERE "IsDeleted" = 1'
                ).fetchone()
            if first:
                earliest = sf_datetime(parse_sf_datetime(first).replace(second=0, microsecond=0))
        return json_response(
            {
                "deletedRecords": [{"id": i, "deletedDate": d} for i, d in rows],
                "earliestDateAvailable": earliest,
                "latestDateCovered": sf_datetime(end),
            }
        )
