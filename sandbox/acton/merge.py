"""List uploads: parsing the CSV with its uploadspecs, and merging its rows into a list by a merge mode."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sandbox.acton.calls import ActOnError, Call
from sandbox.acton.values import is_valid_email, normalise_email

MERGE_MODES = ("APPEND", "APPEND_NO_DUPLICATES", "UPSERT", "UPDATE_ONLY", "REPLACE")
_SEPARATORS = {"COMMA": ",", "TAB": "\t", "SEMICOLON": ";"}
_QUOTES = {"NONE": None, "SINGLE_QUOTE": "'", "DOUBLE_QUOTE": '"'}
_EMAIL_HEADINGS = {"email", "e-mail", "e-mail address", "email address"}


@dataclass
class Upload:
    """The columns kept from the file (heading, columnType, index in the row) and its data rows."""

    columns: list[tuple[str, str | None, int]]
    rows: list[list[str]]
    header: list[str]

    def email_heading(self) -> str | None:
        return email_heading([{"heading": h, "type": t} for h, t, _ in self.columns])


@dataclass
class MergeResult:
    appendCount: int = 0  # Act-On's names
    updateCount: int = 0
    failedCount: int = 0
    rejectedCount: int = 0
    rejects: list[list[str]] = field(default_factory=list)


def email_heading(columns: list[dict[str, Any]]) -> str | None:
    """The list's email column: the one typed EMAIL, else the one whose heading says e-mail."""
    typed = next((c["heading"] for c in columns if (c.get("type") or "").upper() == "EMAIL"), None)
    return typed or next(
        (c["heading"] for c in columns if c["heading"].strip().lower() in _EMAIL_HEADINGS), None
    )


def json_form(call: Call, name: str) -> Any:
    raw = call.form.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ActOnError(10010, message=f"Invalid {name}") from None


def parse_upload(call: Call) -> Upload:
    data = call.files.get("file")
    if data is None:
        raise ActOnError(10003)
    quote = _QUOTES.get(call.form.get("quotecharacter", "DOUBLE_QUOTE").upper(), '"')
    reader = csv.reader(
        io.StringIO(data.decode("utf-8-sig", "replace"), newline=""),
        delimiter=_SEPARATORS.get(call.form.get("fieldseparator", "COMMA").upper(), ","),
        quotechar=quote or '"',
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
    )
    rows = [r for r in reader if any(v.strip() for v in r)]
    header = rows.pop(0) if call.form.get("headings", "Y").upper() == "Y" and rows else []
    specs = json_form(call, "uploadspecs")
    if specs is None:
        specs = [{"columnHeading": h, "columnIndex": i} for i, h in enumerate(header)]
    if not isinstance(specs, list):
        raise ActOnError(10010, message="Invalid uploadspecs")
    columns = []
    for i, spec in enumerate(specs):
        if str(spec.get("ignoreColumn", "N")).upper() == "Y":
            continue
        index = int(spec.get("columnIndex", i))
        heading = spec.get("columnHeading") or (
            header[index] if index < len(header) else f"Column {index + 1}"
        )
        columns.append((heading, spec.get("columnType") or None, index))
    return Upload(columns, rows, header)


def merge_spec(call: Call, default_list: str) -> dict[str, Any]:
    """The first mergespecs entry (the sandbox merges into one destination per upload)."""
    specs = json_form(call, "mergespecs") or [{}]
    spec = specs[0] if isinstance(specs, list) and specs else {}
    mode = str(spec.get("mergeMode", "APPEND")).upper()
    if mode not in MERGE_MODES:
        raise ActOnError(10025, message=f"Invalid merge mode {mode}")
    return {
        "dst": spec.get("dstListId") or default_list,
        "mode": mode,
        "key": spec.get("mergeKeyHeading") or "EMAIL",
        "map": {
            m.get("srcHeading"): m.get("dstHeading")
            for m in spec.get("columnMap") or []
            if isinstance(m, dict)
        },
    }


class ListMerger:
    """Applies an upload to one list inside the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, list_ident: str, now_ms: int):
        self.conn, self.list_id, self.now = conn, list_ident, now_ms
        cols, self.next_rec = conn.execute(
            "SELECT columns, next_record FROM acton_lists WHERE id = ?", (list_ident,)
        ).fetchone()
        self.columns: list[dict[str, Any]] = json.loads(cols)

    def _destination(self, heading: str, ctype: str | None, column_map: dict[str, str]) -> str:
        """The list heading an upload column lands in; new headings become new columns of the list."""
        wanted = column_map.get(heading, heading)
        for c in self.columns:
            if c["heading"].lower() == wanted.lower():
                return c["heading"]
        if ctype:
            for c in self.columns:
                if (c.get("type") or "").upper() == ctype.upper():
                    return c["heading"]
        self.columns.append({"heading": wanted, "type": ctype})
        return wanted

    def _key_index(self, key_heading: str) -> dict[str, list[int]]:
        if key_heading == "EMAIL":
            rows = self.conn.execute(
                "SELECT email_norm, rec FROM acton_records WHERE list_id = ? ORDER BY rec", (self.list_id,)
            )
        else:
            path = '$."' + key_heading.replace('"', '\\"') + '"'
            rows = self.conn.execute(
                "SELECT lower(trim(json_extract(data, ?))), rec FROM acton_records WHERE list_id = ? ORDER BY rec",
                (path, self.list_id),
            )
        index: dict[str, list[int]] = {}
        for key, rec in rows:
            index.setdefault(key or "", []).append(rec)
        return index

    def insert(self, values: dict[str, str], email_col: str) -> int:
        rec = self.next_rec
        self.next_rec += 1
        self.conn.execute(
            "INSERT INTO acton_records VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.list_id,
                rec,
                normalise_email(values.get(email_col)),
                json.dumps(values),
                self.now,
                self.now,
            ),
        )
        return rec

    def update(self, rec: int, values: dict[str, str], email_col: str, put_empty: bool) -> None:
        (raw,) = self.conn.execute(
            "SELECT data FROM acton_records WHERE list_id = ? AND rec = ?", (self.list_id, rec)
        ).fetchone()
        data = json.loads(raw)
        data.update({k: v for k, v in values.items() if put_empty or v != ""})
        self.conn.execute(
            "UPDATE acton_records SET data = ?, email_norm = ?, modified_ms = ? WHERE list_id = ? AND rec = ?",
            (json.dumps(data), normalise_email(data.get(email_col)), self.now, self.list_id, rec),
        )

    def merge(
        self, upload: Upload, spec: dict[str, Any], put_empty: bool, row_errors: dict[int, str]
    ) -> MergeResult:
        targets = [(self._destination(h, t, spec["map"]), i) for h, t, i in upload.columns]
        email_col = email_heading(self.columns)
        src_email = upload.email_heading()
        if email_col is None or src_email is None:
            raise ActOnError(10088)
        if spec["key"] == "EMAIL":
            key_col = email_col
        else:
            key_col = next((d for d, _ in targets if d.lower() == spec["key"].lower()), None)
            if key_col is None:
                raise ActOnError(10088)
        mode = spec["mode"]
        if mode == "REPLACE":
            self.conn.execute("DELETE FROM acton_records WHERE list_id = ?", (self.list_id,))
        index = self._key_index(spec["key"])
        result = MergeResult()
        for n, row in enumerate(upload.rows):
            # imports trim values; the email keeps the case it was uploaded with
            values = {dst: (row[i].strip() if i < len(row) else "") for dst, i in targets}
            if not is_valid_email(values.get(email_col)):
                result.rejectedCount += 1
                result.rejects.append([*row, "Invalid email address"])
                continue
            if n in row_errors:
                result.failedCount += 1
                result.rejects.append([*row, row_errors[n]])
                continue
            key = normalise_email(values.get(key_col))
            matches = index.get(key, [])
            if matches and mode in ("UPSERT", "UPDATE_ONLY"):
                for rec in matches:
                    self.update(rec, values, email_col, put_empty)
                result.updateCount += 1
            elif mode in ("APPEND", "REPLACE", "UPSERT") or (mode == "APPEND_NO_DUPLICATES" and not matches):
                index.setdefault(key, []).append(self.insert(values, email_col))
                result.appendCount += 1
        self.save()
        return result

    def save(self) -> None:
        """Persist the list's columns and record counter, and mark it modified."""
        self.conn.execute(
            "UPDATE acton_lists SET columns = ?, next_record = ?, modified_ms = ? WHERE id = ?",
            (json.dumps(self.columns), self.next_rec, self.now, self.list_id),
        )
