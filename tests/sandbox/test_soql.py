"""SOQL parser and compiler: queries run against a real Store, results and Salesforce's errors checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.salesforce.soql import SoqlError, compile_query
from sandbox.store import Store

NOW = datetime(2024, 1, 20, 15, 0, tzinfo=UTC)
FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


def _audit(stamp: str) -> dict[str, str]:
    return {"CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("soql") / "sandbox.sqlite")
    (owner,) = s.insert(
        "User",
        [
            {
                "Username": "olive@example.com",
                "Email": "owner@example.com",
                "LastName": "Owner",
                "Name": "Olive Owner",
            }
        ],
    )
    (acme,) = s.insert("Account", [{"Name": "Acme"}])
    (contact,) = s.insert(
        "Contact", [{"LastName": "Converted", "Email": "conv@example.com", "AccountId": acme}]
    )
    s.insert("Contact", [{"LastName": "Orphan"}])
    open_status = "Open - Not Contacted"
    s.insert(
        "Lead",
        [
            {
                "FirstName": "ann",
                "LastName": "Smith",
                "Email": "ann@example.com",
                "Company": "Acme",
                "Status": open_status,
                "AnnualRevenue": 1000.0,
                "OwnerId": owner,
                "HasOptedOutOfEmail": 1,
                "IsConverted": 1,
                "ConvertedContactId": contact,
                "ConvertedDate": "2024-01-09",
                **_audit("2024-01-10T12:00:00.000+0000"),
            },
            {
                "FirstName": "Bob",
                "LastName": "O'Brien",
                "Company": "Globex",
                "Status": open_status,
                "AnnualRevenue": 5000.0,
                "HasOptedOutOfEmail": 0,
                "LastModifiedById": owner,
                **_audit("2024-01-20T00:00:00.000+0000"),
            },
            {
                "FirstName": "Cy",
                "LastName": "100% Real_Name",
                "Email": "cy@EXAMPLE.com",
                "Company": "Initech",
                "Status": "Working - Contacted",
                "HasOptedOutOfEmail": 0,
                **_audit("2024-02-05T23:59:59.999+0000"),
            },
            {
                "FirstName": "Dee",
                "LastName": "Gone",
                "Company": "Hooli",
                "Status": open_status,
                "HasOptedOutOfEmail": 0,
                "IsDeleted": 1,
                **_audit("2024-01-15T00:00:00.000+0000"),
            },
        ],
    )
    s.insert(
        "Organization", [{"Name": "Sandbox Org", "IsSandbox": 1, "OrganizationType": "Enterprise Edition"}]
    )
    yield s
    s.conn.close()


def run(store: Store, soql: str, **kw: Any) -> list[tuple]:
    q = compile_query(soql, store, now=NOW, **kw)
    return store.conn.execute(q.sql, q.params).fetchall()


def names(store: Store, where: str, **kw: Any) -> list[str]:
    """Last names of the leads matching ``where``, sorted."""
    return sorted(r[0] for r in run(store, f"SELECT LastName FROM Lead WHERE {where}", **kw))


def soql_error(store: Store, soql: str, **kw: Any) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        compile_query(soql, store, now=NOW, **kw)
    return info.value


def plan(store: Store, soql: str, **kw: Any) -> str:
    q = compile_query(soql, store, **kw)
    return " | ".join(r[3] for r in store.conn.execute(f"EXPLAIN QUERY PLAN {q.sql}", q.params))


# -- select list -----------------------------------------------------------------------------------------


def test_select_resolves_names_case_insensitively_to_canonical(store: Store) -> None:
    q = compile_query("select id, EMAIL, lastname from lead where lastname = 'smith'", store)
    assert q.object == "Lead"
    assert [c.header for c in q.columns] == ["Id", "Email", "LastName"]
    assert [c.path for c in q.columns] == [("Id",), ("Email",), ("LastName",)]
    assert q.columns[1].field.type == "email"
    assert q.columns[1].parent_object is None
    assert not q.is_count
    rows = store.conn.execute(q.sql, q.params).fetchall()
    assert rows == [(rows[0][0], "ann@example.com", "Smith")]
    assert rows[0][0].startswith("00Q")


def test_parent_fields_join_their_object(store: Store) -> None:
    q = compile_query(
        "SELECT LastName, owner.email, ConvertedContact.Email, LastModifiedBy.Name FROM Lead ORDER BY LastName",
        store,
    )
    assert [c.header for c in q.columns] == [
        "LastName",
        "Owner.Email",
        "ConvertedContact.Email",
        "LastModifiedBy.Name",
    ]
    assert q.columns[1].path == ("Owner", "Email")
    assert [c.parent_object for c in q.columns] == [None, "User", "Contact", "User"]
    assert store.conn.execute(q.sql, q.params).fetchall() == [
        ("100% Real_Name", None, None, None),
        ("O'Brien", None, None, "Olive Owner"),
        ("Smith", "owner@example.com", "conv@example.com", None),
    ]


def test_parent_field_of_contact_account(store: Store) -> None:
    assert run(store, "SELECT LastName, Account.Name FROM Contact ORDER BY LastName") == [
        ("Converted", "Acme"),
        ("Orphan", None),
    ]


def test_parent_field_in_where(store: Store) -> None:
    assert names(store, "Owner.Email = 'OWNER@example.com'") == ["Smith"]
    q = compile_query("SELECT Id FROM Lead WHERE Owner.Email != null", store)
    assert store.conn.execute(q.count_sql, q.params).fetchone() == (1,)


def test_count_alone(store: Store) -> None:
    q = compile_query("SELECT COUNT() FROM Lead WHERE AnnualRevenue > 0", store)
    assert q.is_count and q.columns == []
    assert store.conn.execute(q.sql, q.params).fetchone() == (2,)
    assert store.conn.execute(q.count_sql, q.params).fetchone() == (2,)
    assert run(store, "SELECT COUNT() FROM Lead LIMIT 2") == [(2,)]


def test_duplicate_field(store: Store) -> None:
    err = soql_error(store, "SELECT Id, Email, email FROM Lead")
    assert err.error_code == "DUPLICATE_FIELD"
    assert err.message == (
        "\nSELECT Id, Email, email FROM Lead\n                  ^\nERROR at Row:1:Column:19\n"
        "duplicate field selected: Email"
    )
    assert soql_error(store, "SELECT Owner.Email, OWNER.email FROM Lead").error_code == "DUPLICATE_FIELD"


# -- errors ----------------------------------------------------------------------------------------------


def test_unknown_object(store: Store) -> None:
    err = soql_error(store, "SELECT Id FROM Foo")
    assert err.error_code == "INVALID_TYPE"
    assert err.message.endswith(
        "\nERROR at Row:1:Column:16\nsObject type 'Foo' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
        "call for the appropriate names."
    )


def test_unknown_field_message_is_salesforces(store: Store) -> None:
    err = soql_error(store, "SELECT Id, Foo FROM Lead")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Id, Foo FROM Lead\n           ^\nERROR at Row:1:Column:12\n"
        f"No such column 'Foo' on entity 'Lead'. {FIELD_HINT}"
    )


def test_unknown_field_in_where_and_order_and_parent(store: Store) -> None:
    err = soql_error(store, "SELECT Id\nFROM Lead\nWHERE Bogus__c = 1")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.startswith(
        "\nWHERE Bogus__c = 1\n      ^\nERROR at Row:3:Column:7\nNo such column 'Bogus__c'"
    )
    assert "No such column 'Nope'" in soql_error(store, "SELECT Id FROM Lead ORDER BY Nope").message
    err = soql_error(store, "SELECT Owner.Nope FROM Lead")
    assert err.message.endswith(f"No such column 'Nope' on entity 'User'. {FIELD_HINT}")
    err = soql_error(store, "SELECT Boss.Email FROM Lead")
    assert err.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Boss' in field path." in err.message


def test_syntax_error_names_the_token(store: Store) -> None:
    err = soql_error(store, "SELECT Id FROM Lead XYZ")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message == (
        "\nSELECT Id FROM Lead XYZ\n                    ^\nERROR at Row:1:Column:21\nunexpected token: 'XYZ'"
    )
    assert soql_error(store, "SELECT Id FROM Lead WHERE").message.endswith("unexpected token: <EOF>")


@pytest.mark.parametrize(
    ("soql", "token"),
    [
        ("SELECT Industry FROM Lead GROUP BY Industry", "GROUP"),
        ("SELECT MAX(AnnualRevenue) FROM Lead", "MAX"),
        ("SELECT COUNT(Id) FROM Lead", "COUNT"),
        ("SELECT FIELDS(ALL) FROM Lead LIMIT 200", "FIELDS"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "("),
        ("SELECT TYPEOF Owner WHEN User THEN Email END FROM Lead", "TYPEOF"),
        ("SELECT Id FROM Lead WITH SECURITY_ENFORCED", "WITH"),
        ("SELECT Id FROM Lead FOR VIEW", "FOR"),
        ("SELECT Id FROM Lead WHERE OwnerId IN (SELECT Id FROM User)", "SELECT"),
        ("SELECT Id FROM Lead WHERE Email = 'a' AND LastName = 'b' OR Company = 'c'", "OR"),
        ("SELECT Id FROM Lead WHERE LastName = :name", ":"),
        ("SELECT Id FROM Lead l", "l"),
        ("SELECT Id FROM Lead LIMIT 5 OFFSET", None),
        ("SELECT Id FROM Lead OFFSET 5 LIMIT 5", "LIMIT"),
        ("SELECT COUNT(), Id FROM Lead", ","),
        ("SELECT Id FROM Lead WHERE Email = Bob", "Bob"),
        ("SELECT Id FROM Lead;", ";"),
    ],
)
def test_unsupported_constructs_are_malformed(store: Store, soql: str, token: str | None) -> None:
    err = soql_error(store, soql)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(
        "unexpected token: <EOF>" if token is None else f"unexpected token: '{token}'"
    )


def test_invalid_escape_is_malformed(store: Store) -> None:
    err = soql_error(store, r"SELECT Id FROM Lead WHERE LastName = 'a\qb'")
    assert err.error_code == "MALFORMED_QUERY"
    assert "Illegal character sequence '\\q' in string literal." in err.message
    assert soql_error(store, "SELECT Id FROM Lead WHERE LastName = 'open").error_code == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("where", "type_text"),
    [
        ("HasOptedOutOfEmail = 'true'", "must be of type boolean and should not be enclosed in quotes"),
        ("SystemModstamp > '2024-01-01'", "must be of type dateTime and should not be enclosed in quotes"),
        ("ConvertedDate = '2024-01-01'", "must be of type date and should not be enclosed in quotes"),
        ("AnnualRevenue > '5'", "must be of type double and should not be enclosed in quotes"),
        ("LastName = 5", "must be of type string and should be enclosed in quotes"),
        ("LastName = TODAY", "must be of type string and should be enclosed in quotes"),
    ],
)
def test_filter_value_of_wrong_type(store: Store, where: str, type_text: str) -> None:
    err = soql_error(store, f"SELECT Id FROM Lead WHERE {where}")
    assert err.error_code == "INVALID_FIELD"
    field = where.split()[0]
    assert err.message.endswith(f"value of filter criterion for field '{field}' {type_text}")


def test_like_and_dates_need_the_right_field(store: Store) -> None:
    err = soql_error(store, "SELECT Id FROM Lead WHERE CreatedDate LIKE '2024%'")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith("invalid operator LIKE on field 'CreatedDate' of type dateTime")
    err = soql_error(store, "SELECT Id FROM Lead WHERE CreatedDate > 2024-13-45")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("unexpected token: '2024-13-45'")


def test_offset_beyond_2000(store: Store) -> None:
    assert compile_query("SELECT Id FROM Lead LIMIT 10 OFFSET 2000", store).offset == 2000
    err = soql_error(store, "SELECT Id FROM Lead LIMIT 10 OFFSET 2001")
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_bulk_refuses_count_and_offset(store: Store) -> None:
    assert soql_error(store, "SELECT COUNT() FROM Lead", bulk=True).error_code == "INVALIDJOB"
    assert soql_error(store, "SELECT Id FROM Lead LIMIT 5 OFFSET 5", bulk=True).error_code == "INVALIDJOB"
    assert len(run(store, "SELECT Id, Owner.Email FROM Lead ORDER BY Id LIMIT 2", bulk=True)) == 2


# -- WHERE -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'smith'", ["Smith"]),
        ("Email = 'CY@example.com'", ["100% Real_Name"]),
        ("LastName = '100% Real_Name'", ["100% Real_Name"]),
        ("Email = null", ["O'Brien"]),
        ("Email != null", ["100% Real_Name", "Smith"]),
        ("Email != 'ann@example.com'", ["100% Real_Name", "O'Brien"]),
        ("Email <> 'ann@example.com'", ["100% Real_Name", "O'Brien"]),
        ("HasOptedOutOfEmail = true", ["Smith"]),
        ("HasOptedOutOfEmail = FALSE", ["100% Real_Name", "O'Brien"]),
        ("AnnualRevenue > 1000", ["O'Brien"]),
        ("AnnualRevenue >= 1000", ["O'Brien", "Smith"]),
        ("AnnualRevenue < 5000", ["Smith"]),
        ("AnnualRevenue <= 1000.5", ["Smith"]),
        ("AnnualRevenue = 5000", ["O'Brien"]),
        ("AnnualRevenue != 1000", ["100% Real_Name", "O'Brien"]),
        ("AnnualRevenue > -1.5", ["O'Brien", "Smith"]),
        ("Email IN ('ANN@example.com', 'cy@example.com')", ["100% Real_Name", "Smith"]),
        ("Email NOT IN ('ann@example.com')", ["100% Real_Name", "O'Brien"]),
        ("Email IN ('ann@example.com', null)", ["O'Brien", "Smith"]),
        ("LastName LIKE 's%'", ["Smith"]),
        ("FirstName LIKE '_O_'", ["O'Brien"]),
        ("LastName LIKE '100_ Real%'", ["100% Real_Name"]),
        (r"LastName LIKE '%\%%'", ["100% Real_Name"]),
        (r"LastName LIKE '%l\_n%'", ["100% Real_Name"]),
        (r"LastName LIKE 'O\'%'", ["O'Brien"]),
        ("NOT Email = 'ann@example.com'", ["100% Real_Name", "O'Brien"]),
        ("NOT (FirstName = 'Bob' OR FirstName = 'Cy')", ["Smith"]),
        ("(FirstName = 'ann' OR FirstName = 'cy') AND AnnualRevenue = null", ["100% Real_Name"]),
        ("FirstName = 'Bob' OR (AnnualRevenue > 0 AND HasOptedOutOfEmail = true)", ["O'Brien", "Smith"]),
        ("Company = 'Acme' AND Status = 'open - not contacted' AND IsConverted = true", ["Smith"]),
        ("AnnualRevenue < null", []),
    ],
)
def test_where(store: Store, where: str, expected: list[str]) -> None:
    assert names(store, where) == expected


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'tab\there'", "tab\there"),
        (r"'line\nbreak'", "line\nbreak"),
        (r"'cr\rhere'", "cr\rhere"),
        (r"'say \"hi\"'", 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'it\'s'", "it's"),
        (r"'caf\u00e9'", "café"),
    ],
)
def test_string_escapes(tmp_path: Path, literal: str, value: str) -> None:
    s = Store(tmp_path / "sandbox.sqlite")
    s.insert(
        "Lead", [{"LastName": value, "Company": "C", "Status": "x"}, {"LastName": "other", "Company": "C"}]
    )
    assert names(s, f"LastName = {literal}") == [value]


@pytest.mark.parametrize(
    "literal",
    [
        "2024-01-20T00:00:00Z",
        "2024-01-20T00:00:00.000Z",
        "2024-01-20T00:00:00+00:00",
        "2024-01-20T00:00:00.000+0000",
        "2024-01-20T00:00:00.000000Z",
        "2024-01-19T19:00:00-05:00",
        "2024-01-20T05:30:00.000+05:30",
    ],
)
def test_datetime_literal_forms_normalise_to_store_encoding(store: Store, literal: str) -> None:
    q = compile_query(f"SELECT LastName FROM Lead WHERE SystemModstamp >= {literal}", store)
    assert q.params == ["2024-01-20T00:00:00.000+0000"]
    assert names(store, f"SystemModstamp >= {literal}") == ["100% Real_Name", "O'Brien"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", ["O'Brien"]),
        ("CreatedDate = YESTERDAY", []),
        ("CreatedDate < TODAY", ["Smith"]),
        ("CreatedDate = LAST_N_DAYS:10", ["O'Brien", "Smith"]),
        ("CreatedDate = LAST_N_DAYS:9", ["O'Brien"]),
        ("CreatedDate = NEXT_N_DAYS:20", ["100% Real_Name"]),
        ("CreatedDate > TODAY", ["100% Real_Name"]),
        ("CreatedDate >= YESTERDAY", ["100% Real_Name", "O'Brien"]),
        ("CreatedDate <= TODAY", ["O'Brien", "Smith"]),
        ("CreatedDate != TODAY", ["100% Real_Name", "Smith"]),
        ("SystemModstamp = 2024-01-10", ["Smith"]),
        ("SystemModstamp > 2024-01-10", ["100% Real_Name", "O'Brien"]),
        ("SystemModstamp <= 2024-02-05", ["100% Real_Name", "O'Brien", "Smith"]),
        ("SystemModstamp < 2024-02-05", ["O'Brien", "Smith"]),
        ("ConvertedDate = 2024-01-09", ["Smith"]),
        ("ConvertedDate = LAST_N_DAYS:11", ["Smith"]),
        ("ConvertedDate = LAST_N_DAYS:10", []),
        ("ConvertedDate < TODAY", ["Smith"]),
        # 23:00 in New York on the 9th is the 10th in UTC
        ("ConvertedDate < 2024-01-09T23:00:00-05:00", ["Smith"]),
        ("ConvertedDate > 2024-01-09T23:00:00-05:00", []),
        ("CreatedDate IN (TODAY, 2024-01-10)", ["O'Brien", "Smith"]),
        ("CreatedDate NOT IN (TODAY)", ["100% Real_Name", "Smith"]),
        ("ConvertedDate IN (2024-01-09, null)", ["100% Real_Name", "O'Brien", "Smith"]),
    ],
)
def test_date_literals(store: Store, where: str, expected: list[str]) -> None:
    assert names(store, where) == expected


def test_deleted_rows_only_with_include_deleted(store: Store) -> None:
    assert "Gone" not in names(store, "Company != null")
    assert "Gone" in names(store, "Company != null", include_deleted=True)
    assert names(store, "IsDeleted = true", include_deleted=True) == ["Gone"]
    assert names(store, "IsDeleted = true") == []


def test_values_are_bound_never_interpolated(store: Store) -> None:
    q = compile_query(r"SELECT Id FROM Lead WHERE LastName = 'x\' OR \'1\'=\'1'", store)
    assert "1'='1" not in q.sql
    assert q.params == ["x' OR '1'='1"]
    assert store.conn.execute(q.sql, q.params).fetchall() == []


# -- ORDER BY, LIMIT, OFFSET -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("AnnualRevenue", ["Cy", "ann", "Bob"]),
        ("AnnualRevenue DESC", ["Bob", "ann", "Cy"]),
        ("AnnualRevenue ASC NULLS LAST", ["ann", "Bob", "Cy"]),
        ("AnnualRevenue DESC NULLS FIRST", ["Cy", "Bob", "ann"]),
        ("FirstName", ["ann", "Bob", "Cy"]),
        ("Status ASC, LastName DESC", ["ann", "Bob", "Cy"]),
        ("Status DESC, LastName", ["Cy", "Bob", "ann"]),
        ("Owner.Email DESC NULLS LAST, FirstName", ["ann", "Bob", "Cy"]),
    ],
)
def test_order_by(store: Store, order: str, expected: list[str]) -> None:
    assert [r[0] for r in run(store, f"SELECT FirstName FROM Lead ORDER BY {order}")] == expected


def test_limit_and_offset(store: Store) -> None:
    q = compile_query("SELECT FirstName FROM Lead ORDER BY FirstName LIMIT 1 OFFSET 1", store)
    assert (q.limit, q.offset) == (1, 1)
    assert store.conn.execute(q.sql, q.params).fetchall() == [("Bob",)]
    assert store.conn.execute(q.count_sql, q.params).fetchone() == (3,)
    assert q.total_size(3) == 1
    q = compile_query("SELECT FirstName FROM Lead ORDER BY FirstName OFFSET 2", store)
    assert store.conn.execute(q.sql, q.params).fetchall() == [("Cy",)]
    assert q.total_size(3) == 1
    assert compile_query("SELECT Id FROM Lead LIMIT 10 OFFSET 5", store).total_size(3) == 0
    assert compile_query("SELECT Id FROM Lead", store).total_size(3) == 3
    assert run(store, "SELECT FirstName FROM Lead LIMIT 0") == []


# -- what real clients send ------------------------------------------------------------------------------


def test_airbyte_slice_query(store: Store) -> None:
    soql = (
        "SELECT Id,LastName,SystemModstamp FROM Lead WHERE SystemModstamp >= 2024-01-01T00:00:00.000+00:00 "
        "AND SystemModstamp < 2024-01-31T00:00:00.000+00:00 ORDER BY Id ASC"
    )
    rows = run(store, soql, include_deleted=True)
    assert [r[1] for r in rows] == ["Smith", "O'Brien", "Gone"]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert "INDEX ix_Lead_modstamp" in plan(store, soql, include_deleted=True)
    assert "INDEX ix_Lead_modstamp" in plan(store, soql)


def test_dlt_incremental_query(store: Store) -> None:
    soql = (
        "SELECT Id, LastName FROM Lead WHERE SystemModstamp > 2024-01-10T12:00:00.000000Z "
        "ORDER BY SystemModstamp ASC LIMIT 100"
    )
    assert [r[1] for r in run(store, soql, include_deleted=True)] == ["Gone", "O'Brien", "100% Real_Name"]
    query_plan = plan(store, soql, include_deleted=True)
    assert "INDEX ix_Lead_modstamp" in query_plan
    assert "TEMP B-TREE" not in query_plan


def test_order_by_id_walks_the_primary_key(store: Store) -> None:
    query_plan = plan(store, "SELECT Id, Owner.Email FROM Lead ORDER BY Id ASC")
    assert "TEMP B-TREE" not in query_plan


def test_simple_salesforce_is_sandbox(store: Store) -> None:
    q = compile_query("SELECT IsSandbox FROM Organization LIMIT 1", store)
    assert "IsDeleted" not in q.sql  # Organization has no IsDeleted
    assert store.conn.execute(q.sql, q.params).fetchall() == [(1,)]


# -- property: SOQL-escaped strings round-trip ----------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(tmp_path_factory.mktemp("soql-prop") / "sandbox.sqlite")
    yield s
    s.conn.close()


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=40))
def test_escaped_string_matches_exactly_its_row(scratch: Store, value: str) -> None:
    decoys = [value + "x", "x" + value, value + "\\", "'" + value]
    ids = scratch.insert("Lead", [{"LastName": v, "Company": "C", "Status": "s"} for v in [value, *decoys]])
    try:
        q = compile_query(f"SELECT Id, LastName FROM Lead WHERE LastName = {soql_quote(value)}", scratch)
        assert scratch.conn.execute(q.sql, q.params).fetchall() == [(ids[0], value)]
    finally:
        for record_id in ids:
            scratch.delete("Lead", record_id, hard=True)
