"""Property tests (hypothesis): what the pipeline writes is read back as the same value by the other side.

- SOQL literals from ``ingest.clients.salesforce_soql`` select exactly the record holding the value, through the sandbox's compiler.
- Email normalisation and validity agree between Python (``writeback.emails``) and the dbt macro run in
  DuckDB: a disagreement would split one person in two, or send a row dbt already rejected.
- An opt-out upload is read by Act-On as exactly the emails sent, and an email that would not be is never sent.
- Arbitrary text survives the CSV files between the systems: the write-back's list upload as Act-On parses it,
  the write-back's Bulk update as Salesforce parses it, and a Bulk query result as the extract reads it (polars).
"""

from __future__ import annotations

import io
import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from common.warehouse import utc_now
from ingest.clients import salesforce_soql
from ingest.clients.acton_client import emails_csv, survives_csv
from ingest.clients.salesforce_frames import Column, frame_from_csv
from sandbox.acton.calls import Call
from sandbox.acton.merge import parse_upload
from sandbox.acton.optouts import upload_rows
from sandbox.admin.control import Control
from sandbox.salesforce.bulk_ingest import BulkIngest
from sandbox.salesforce.bulk_jobs import Jobs
from sandbox.salesforce.bulk_query import line_sql
from sandbox.salesforce.results import Results
from sandbox.salesforce.soql import compile_query
from sandbox.store import Store
from writeback.acton_lists import _member_csv, member_texts, upload_specs
from writeback.emails import is_valid_email, normalise_email
from writeback.salesforce_fields import BULK_NULL, _bulk_csv

JOB_NUMBERS = itertools.count()
EMAIL_MACRO = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "email.sql"
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text a CRM field can hold: anything printable or whitespace, no NUL (no API transports it).
field_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=60)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("properties") / "sandbox.sqlite")
    yield s
    s.conn.close()


# -- SOQL literals ------------------------------------------------------------------------------------------
def in_list_of(*values: str) -> str:
    return "(" + ",".join(salesforce_soql.quote(v) for v in values) + ")"


@FAST
@given(value=field_text)
def test_soql_quote_selects_exactly_the_value(store: Store, value: str) -> None:
    decoys = [value + "\\", "\\" + value, value + "'", "'" + value, value + '"', value + "x"]
    ids = store.insert("Lead", [{"LastName": v, "Company": "C", "Status": "s"} for v in [value, *decoys]])
    try:
        query = compile_query(
            f"SELECT Id, LastName FROM Lead WHERE LastName = {salesforce_soql.quote(value)}", store
        )
        assert store.conn.execute(query.sql, query.params).fetchall() == [(ids[0], value)]
        in_list = compile_query(f"SELECT Id FROM Lead WHERE Id IN {in_list_of(ids[0], value)}", store)
        assert store.conn.execute(in_list.sql, in_list.params).fetchall() == [(ids[0],)]
    finally:
        for record_id in ids:
            store.delete("Lead", record_id, hard=True)


# -- email normalisation: Python and the dbt macro ------------------------------------------------------------
def _dbt_email_sql(column: str) -> str:
    """The ``email_columns`` macro rendered for DuckDB, as dbt would (``adapter.dispatch`` picks duckdb__, else
    default__)."""
    env = jinja2.Environment()
    module: Any = None

    class Adapter:
        @staticmethod
        def dispatch(name: str) -> Any:
            return getattr(module, f"duckdb__{name}", None) or getattr(module, f"default__{name}")

    env.globals.update(adapter=Adapter, **{"return": lambda value: value})
    module = env.from_string(EMAIL_MACRO.read_text()).make_module()
    return str(module.email_columns(column))


@pytest.fixture(scope="module")
def email_sql() -> str:
    return f"SELECT {_dbt_email_sql('raw')} FROM (SELECT ? AS raw)"


emails = st.one_of(
    field_text,
    st.emails().map(str),
    st.tuples(
        st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", "\u3000"]),
        st.emails(),
        st.sampled_from(["", " ", "\t", "\r\n", "\u00a0"]),
    ).map(lambda t: f"{t[0]}{t[1].upper() if len(t[1]) % 2 else t[1]}{t[2]}"),
)


@FAST
@given(raw=emails)
def test_email_normalisation_matches_the_dbt_macro(email_sql: str, raw: str) -> None:
    with duckdb.connect() as conn:
        raw_out, email, valid = conn.execute(email_sql, [raw]).fetchone()
    assert raw_out == raw
    assert normalise_email(raw) == email
    assert is_valid_email(raw) == valid


# -- CSV round trips ------------------------------------------------------------------------------------------
def _acton_upload_call(data: bytes, headings: list[str]) -> Call:
    form = {
        "headings": "Y",
        "fieldseparator": "COMMA",
        "quotecharacter": "DOUBLE_QUOTE",
        "uploadspecs": json.dumps(upload_specs(headings)),
    }
    return Call("PUT", "/api/1/list/l-1", {}, QueryParams(""), "", form=form, files={"file": data})


@FAST
@given(first=field_text, last=field_text, company=field_text)
def test_list_upload_csv_round_trips_through_acton(first: str, last: str, company: str) -> None:
    headings = ["Email", "First Name", "Last Name", "Company"]
    values = json.dumps({"First Name": first, "Last Name": last, "Company": company})
    member = {"email": "a@example.com", "field_values": values}
    upload = parse_upload(
        _acton_upload_call(_member_csv(member_texts(headings, pl.DataFrame([member]))), headings)
    )
    assert upload.header == headings
    assert upload.rows == [["a@example.com", first, last, company]]


@pytest.fixture(scope="module")
def bulk_ingest(store: Store, tmp_path_factory: pytest.TempPathFactory) -> BulkIngest:
    data_dir = tmp_path_factory.mktemp("bulk")
    results = Results(data_dir, Path(store.conn.execute("PRAGMA database_list").fetchone()[2]))
    return BulkIngest(Control(store, data_dir), results, Jobs(results))


@FAST
@given(values=st.lists(field_text.filter(lambda v: v not in ("", BULK_NULL)), min_size=1, max_size=5))
def test_bulk_update_csv_round_trips_through_salesforce(bulk_ingest: BulkIngest, values: list[str]) -> None:
    """Each text reaches the record as sent (an empty cell means "leave as is" and ``#N/A`` means null in
    Bulk 2.0, so neither is a text value the write-back can send)."""
    records = {("Lead", f"00Q{i:015d}"): {"EmailBouncedReason": v} for i, v in enumerate(values)}
    data = _bulk_csv("Lead", records, ["EmailBouncedReason"])
    job_id = f"prop{next(JOB_NUMBERS)}"
    with bulk_ingest.results.connect() as conn:
        conn.execute("INSERT INTO blobs VALUES (?, 'upload', 0, ?)", (job_id, data))
    header, rows = bulk_ingest._parse_uploads(job_id, {"columnDelimiter": "COMMA"})
    ops = bulk_ingest._ops({"object": "Lead", "operation": "update"}, header, rows)
    assert [op.data for op in ops] == [{"EmailBouncedReason": v} for v in values]


@FAST
@given(values=st.lists(field_text, min_size=1, max_size=5))
def test_bulk_query_csv_round_trips_through_the_extract(values: list[str]) -> None:
    """Salesforce writes each value quoted (its printf line), the extract reads it back with polars; an empty
    text is null on both APIs."""
    sqlite = sqlite3.connect(":memory:")
    line = f"SELECT {line_sql(['string', 'string'], ',')} FROM (SELECT ? AS c0, ? AS c1)"
    body = ['"Id","Description"'] + [
        sqlite.execute(line, [str(i), v]).fetchone()[0] for i, v in enumerate(values)
    ]
    data = ("\n".join(body) + "\n").encode()
    columns = [Column("Id", "VARCHAR"), Column("Description", "VARCHAR")]
    frame = frame_from_csv(data, columns, utc_now())
    assert frame["Description"].to_list() == [v or None for v in values]


def test_bulk_query_csv_reads_crlf_inside_a_value() -> None:
    """The case the property most needs: a line break inside a quoted value is data, not a row end."""
    data = io.BytesIO(b'"Id","Description"\n"1","a\r\nb"\n"2","c\rd"\n').getvalue()
    frame = frame_from_csv(data, [Column("Id", "VARCHAR"), Column("Description", "VARCHAR")], utc_now())
    assert frame["Description"].to_list() == ["a\r\nb", "c\rd"]


# -- opt-out uploads ------------------------------------------------------------------------------------------
@FAST
@given(st.lists(field_text, max_size=8))
def test_optout_upload_is_read_as_the_emails_sent(emails: list[str]) -> None:
    """What Act-On reads from an opt-out upload is exactly what was sent: ``"john"@example.com`` stays itself,
    ``a,b@example.com`` stays one email. An email whose line Act-On would read otherwise is refused before any
    upload is built."""
    sendable = [e for e in emails if survives_csv(e)]
    assert upload_rows(emails_csv(sendable)) == [[e] for e in sendable]
    for e in set(emails) - set(sendable):
        with pytest.raises(ValueError, match="CSV round trip"):
            emails_csv([e])
    assert not survives_csv("\ufeffbom@example.com")
