"""REST ``query`` / ``queryAll``: SOQL results as JSON records, paged through a snapshot by locator."""

from __future__ import annotations

import re
import time
from contextlib import closing
from typing import Any

from sandbox.salesforce.calls import Call
from sandbox.salesforce.errors import SfError
from sandbox.salesforce.results import Results
from sandbox.salesforce.soql import Column, CompiledQuery, SoqlError, compile_query
from sandbox.salesforce.values import json_value
from sandbox.store import Store

DEFAULT_BATCH = 2000
MIN_BATCH = 200
CURSOR_IDLE_S = 15 * 60  # Salesforce drops a query cursor after 15 minutes without use
_BATCH_OPTION = re.compile(r"batchSize\s*=\s*(\d+)", re.I)
_LOCATOR = re.compile(r"^(01g[0-9A-Za-z]{15})-(\d+)$")


def batch_size(call: Call) -> int:
    m = _BATCH_OPTION.search(call.headers.get("sforce-query-options", ""))
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(m.group(1)))) if m else DEFAULT_BATCH


def with_record_ids(q: CompiledQuery) -> tuple[str, list[str]]:
    """The query's SQL with the record's and each parent's Id in front of the selected columns: records'
    ``attributes.url`` need them, and a parent whose Id is null is serialised as null. Relies on the SOQL
    compiler's aliases: ``t`` for the object, ``r_<relationship>`` for each parent."""
    rels = list(dict.fromkeys(c.path[0] for c in q.columns if len(c.path) > 1))
    hidden = ['"t"."Id"', *(f'"r_{rel}"."Id"' for rel in rels)]
    assert q.sql.startswith("SELECT ")
    return "SELECT " + ", ".join(hidden) + ", " + q.sql[len("SELECT ") :], rels


class Renderer:
    """Turns rows of ``with_record_ids`` SQL into Salesforce's JSON records."""

    def __init__(self, obj: str, columns: list[dict[str, Any]], rels: list[str], version: str):
        self.obj = obj
        self.url = f"/services/data/v{version}/sobjects/"
        self.rels = rels
        width = 1 + len(rels)
        # Output keys in SELECT order; a parent sits where its first field was selected.
        self.plan: list[tuple[str, Any]] = []
        parents: dict[str, list[tuple[str, int, str]]] = {}
        for i, c in enumerate(columns):
            if len(c["path"]) == 1:
                self.plan.append(("field", (c["path"][0], width + i, c["type"])))
            else:
                rel = c["path"][0]
                if rel not in parents:
                    parents[rel] = []
                    self.plan.append(("parent", (rel, c["parent"], 1 + rels.index(rel), parents[rel])))
                parents[rel].append((c["path"][1], width + i, c["type"]))

    def record(self, row: tuple[Any, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": self.obj, "url": f"{self.url}{self.obj}/{row[0]}"}}
        for kind, spec in self.plan:
            if kind == "field":
                name, i, type_ = spec
                out[name] = json_value(type_, row[i])
                continue
            rel, parent_obj, id_index, fields = spec
            if row[id_index] is None:
                out[rel] = None
                continue
            nested: dict[str, Any] = {
                "attributes": {"type": parent_obj, "url": f"{self.url}{parent_obj}/{row[id_index]}"}
            }
            for name, i, type_ in fields:
                nested[name] = json_value(type_, row[i])
            out[rel] = nested
        return out


def column_specs(columns: list[Column]) -> list[dict[str, Any]]:
    return [{"path": list(c.path), "type": c.field.type, "parent": c.parent_object} for c in columns]


class QueryApi:
    def __init__(self, store: Store, results: Results):
        self.store = store
        self.results = results

    def query(self, call: Call, *, include_deleted: bool) -> dict[str, Any]:
        soql = call.query.get("q")
        if not soql:
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            q = compile_query(soql, self.store, include_deleted=include_deleted)
        except SoqlError as e:
            raise SfError(400, e.error_code, e.message) from None
        if q.is_count:
            with self.results.store_reader() as conn:
                (n,) = conn.execute(q.sql, q.params).fetchone()
            return {"totalSize": n, "done": True, "records": []}
        sql, rels = with_record_ids(q)
        batch = batch_size(call)
        info = {"object": q.object, "columns": column_specs(q.columns), "rels": rels, "batch": batch}
        with self.results.store_reader() as conn:
            first = conn.execute(sql, q.params).fetchmany(batch + 1)
        if len(first) <= batch:
            renderer = Renderer(q.object, info["columns"], rels, call.version)
            return {"totalSize": len(first), "done": True, "records": [renderer.record(r) for r in first]}
        self._forget_idle_cursors()
        cursor = self.results.next_id("01g")
        info["total"] = self.results.snapshot(f"cur_{cursor}", sql, q.params, 1 + len(rels) + len(q.columns))
        self.results.put("cursors", cursor, info, accessed=time.time())
        return self._page(call, cursor, info, 0)

    def more(self, call: Call) -> dict[str, Any]:
        m = _LOCATOR.match(call.params["locator"])
        info = self.results.get("cursors", m.group(1)) if m else None
        if m is None or info is None:
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self.results.put("cursors", m.group(1), info, accessed=time.time())
        return self._page(call, m.group(1), info, int(m.group(2)))

    def _page(self, call: Call, cursor: str, info: dict[str, Any], offset: int) -> dict[str, Any]:
        with closing(self.results.connect()) as c:
            rows = c.execute(
                f'SELECT * FROM "cur_{cursor}" WHERE rowid > ? ORDER BY rowid LIMIT ?',
                (offset, info["batch"]),
            ).fetchall()
        renderer = Renderer(info["object"], info["columns"], info["rels"], call.version)
        end = offset + len(rows)
        page: dict[str, Any] = {"totalSize": info["total"], "done": end >= info["total"]}
        if not page["done"]:
            page["nextRecordsUrl"] = f"{call.prefix()}/query/{cursor}-{end}"
        page["records"] = [renderer.record(r) for r in rows]
        return page

    def _forget_idle_cursors(self) -> None:
        with closing(self.results.connect()) as c:
            idle = [
                r[0]
                for r in c.execute(
                    "SELECT id FROM cursors WHERE accessed < ?", (time.time() - CURSOR_IDLE_S,)
                )
            ]
            for cursor in idle:
                c.execute(f'DROP TABLE IF EXISTS "cur_{cursor}"')
                c.execute("DELETE FROM cursors WHERE id = ?", (cursor,))
