"""SOQL for the sandbox: a tokenizer and recursive-descent parser for the subset Salesforce clients send,
compiled to parameterised SQLite SQL over the Store's tables.

Supported: ``SELECT`` of own fields and one level of parent fields (``Owner.Email``) or ``COUNT()`` alone,
``FROM`` one object, ``WHERE`` with AND/OR/NOT/parentheses and the comparison operators, IN / NOT IN, LIKE,
``ORDER BY`` (ASC/DESC, NULLS FIRST/LAST), ``LIMIT``, ``OFFSET``. Everything else is a MALFORMED_QUERY naming
the token where the parse stopped, which is how Salesforce reports constructs it cannot parse.

Errors carry Salesforce's wording, including the caret block that points at the offending token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.salesforce.schema import FieldDef
from sandbox.store import Store, sf_datetime

# Salesforce caps OFFSET at 2000 rows (NUMBER_OUTSIDE_VALID_RANGE beyond).
MAX_OFFSET = 2000

_NUMERIC_TYPES = {"int": "integer", "double": "double", "currency": "double", "percent": "double"}
# Types compared with the binary collation; all others are text, which SOQL compares case-insensitively.
_UNCOLLATED_TYPES = frozenset({"id", "reference", "boolean", "date", "datetime", *_NUMERIC_TYPES})
_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_CUSTOM_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)
# Words that can never be a field or object name: meeting one there is a syntax error, as in Salesforce.
_RESERVED = frozenset(
    [
        "AND",
        "ASC",
        "BY",
        "DESC",
        "EXCLUDES",
        "FALSE",
        "FIRST",
        "FOR",
        "FROM",
        "GROUP",
        "HAVING",
        "IN",
        "INCLUDES",
        "LAST",
        "LIKE",
        "LIMIT",
        "NOT",
        "NULL",
        "NULLS",
        "OFFSET",
        "OR",
        "ORDER",
        "SELECT",
        "TRUE",
        "TYPEOF",
        "USING",
        "WHERE",
        "WITH",
    ]
)
# Backslash escapes of SOQL string literals; ``\%`` and ``\_`` make LIKE's wildcards literal.
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "%": "%",
    "_": "_",
}


class SoqlError(Exception):
    """A query Salesforce would refuse; the REST and Bulk apps turn it into a 400 error body."""

    def __init__(self, error_code: str, message: str):
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Column:
    header: str
    path: tuple[str, ...]
    field: FieldDef
    parent_object: str | None


@dataclass(frozen=True)
class CompiledQuery:
    """``sql`` answers the whole query, LIMIT and OFFSET included; ``count_sql`` counts every row the WHERE
    matches (Salesforce's totalSize before LIMIT/OFFSET). Both take ``params``."""

    object: str
    columns: list[Column]
    is_count: bool
    sql: str
    params: list
    count_sql: str
    limit: int | None
    offset: int | None

    def total_size(self, matching: int) -> int:
        """Salesforce's totalSize for a non-COUNT() query, from the row count ``count_sql`` returned."""
        after_offset = max(matching - (self.offset or 0), 0)
        return after_offset if self.limit is None else min(after_offset, self.limit)


# -- tokens ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, other, eof
    text: str  # the source text (for a string: the body between the quotes, escapes undecoded)
    pos: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
  | (?P<ident>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE | re.ASCII,
)


def _tokenize(soql: str) -> list[Token]:
    tokens = []
    pos = 0
    while pos < len(soql):
        if soql[pos] == "'":
            end = _string_end(soql, pos)
            tokens.append(Token("string", soql[pos + 1 : end], pos))
            pos = end + 1
            continue
        m = _TOKEN_RE.match(soql, pos)
        if m is None:
            tokens.append(Token("other", soql[pos], pos))
            pos += 1
            continue
        if m.lastgroup != "ws":
            tokens.append(Token(m.lastgroup or "other", m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "", len(soql)))
    return tokens


def _string_end(soql: str, start: int) -> int:
    """Index of the quote closing the string literal opened at ``start``."""
    i = start + 1
    while i < len(soql):
        if soql[i] == "\\":
            i += 2
        elif soql[i] == "'":
            return i
        else:
            i += 1
    raise SoqlError("MALFORMED_QUERY", _located(soql, start, "unexpected token: '''"))


def _decode_string(soql: str, tok: Token, *, like: bool) -> str:
    """The value of a string literal; for LIKE, a pattern for ``ESCAPE '\\'`` in which only the unescaped
    ``%`` and ``_`` stay wildcards."""
    out = []
    body = tok.text
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":  # every backslash in a literal's body starts an escape
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        key = nxt if nxt in _ESCAPES else nxt.lower()
        if key == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            ch = chr(int(body[i + 2 : i + 6], 16))
            i += 6
        elif key in _ESCAPES:
            ch = _ESCAPES[key]
            i += 2
        else:
            raise SoqlError(
                "MALFORMED_QUERY",
                _located(
                    soql,
                    tok.pos,
                    f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}' in string literal.",
                ),
            )
        out.append("\\" + ch if like and ch in "%_\\" else ch)
    return "".join(out)


def _located(soql: str, pos: int, text: str) -> str:
    """Salesforce's error layout: the query line, a caret under the token, its 1-based row and column."""
    before = soql[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    col = pos - line_start + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : len(soql) if line_end < 0 else line_end]
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{text}"


# -- syntax tree ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    parts: tuple[str, ...]
    token: Token


@dataclass(frozen=True)
class Value:
    """A literal; ``token.kind`` says which (``ident`` for TRUE/FALSE/NULL and date literals)."""

    token: Token
    n: int | None = None  # the N of LAST_N_DAYS:N


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= IN NOT IN LIKE
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Junction:
    op: str  # AND | OR
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    item: Condition


Condition = Comparison | Junction | Negation


@dataclass(frozen=True)
class OrderKey:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    fields: list[FieldRef]  # empty for COUNT()
    count: Token | None
    object: Token
    where: Condition | None = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


# -- parser ---------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, soql: str):
        self.soql = soql
        self.tokens = _tokenize(soql)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _peek(self, ahead: int) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def _unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        shown = "<EOF>" if tok.kind == "eof" else f"'{tok.text}'"
        return SoqlError("MALFORMED_QUERY", _located(self.soql, tok.pos, f"unexpected token: {shown}"))

    def _at_punct(self, text: str, ahead: int = 0) -> bool:
        tok = self._peek(ahead)
        return tok.kind == "punct" and tok.text == text

    def _is(self, *keywords: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.upper() in keywords

    def _accept(self, *keywords: str) -> Token | None:
        if self._is(*keywords):
            tok = self.tok
            self.i += 1
            return tok
        return None

    def _expect(self, *keywords: str) -> Token:
        tok = self._accept(*keywords)
        if tok is None:
            raise self._unexpected()
        return tok

    def _expect_punct(self, text: str) -> None:
        if not self._at_punct(text):
            raise self._unexpected()
        self.i += 1

    def _name(self) -> Token:
        """An identifier that is not a reserved word (a field path or an object name)."""
        tok = self.tok
        if tok.kind != "ident" or tok.text.upper() in _RESERVED:
            raise self._unexpected()
        self.i += 1
        return tok

    def _field(self) -> FieldRef:
        tok = self._name()
        if self._at_punct("("):
            # A function (aggregate, toLabel, FIELDS(...)): not part of the sandbox's SOQL.
            raise self._unexpected(tok)
        return FieldRef(tuple(tok.text.split(".")), tok)

    def _int(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise self._unexpected()
        self.i += 1
        return int(tok.text)

    def parse(self) -> Query:
        self._expect("SELECT")
        fields: list[FieldRef] = []
        count = None
        if self._is("COUNT") and self._at_punct("(", 1) and self._at_punct(")", 2):
            count = self.tok
            self.i += 3
        else:
            fields.append(self._field())
            while self._at_punct(","):
                self.i += 1
                fields.append(self._field())
        self._expect("FROM")
        query = Query(fields, count, self._name())
        if self._accept("WHERE"):
            query.where = self._condition()
        if self._accept("ORDER"):
            self._expect("BY")
            query.order.append(self._order_key())
            while self._at_punct(","):
                self.i += 1
                query.order.append(self._order_key())
        if self._accept("LIMIT"):
            query.limit = self._int()
        if self._accept("OFFSET"):
            query.offset = self._int()
        if self.tok.kind != "eof":
            raise self._unexpected()
        return query

    def _order_key(self) -> OrderKey:
        ref = self._field()
        direction = self._accept("ASC", "DESC")
        descending = direction is not None and direction.text.upper() == "DESC"
        nulls_first = not descending
        if self._accept("NULLS"):
            nulls_first = self._expect("FIRST", "LAST").text.upper() == "FIRST"
        return OrderKey(ref, descending, nulls_first)

    def _condition(self) -> Condition:
        """SOQL requires parentheses when AND and OR are mixed, so a run of terms shares one operator."""
        first = self._term()
        op_tok = self._accept("AND", "OR")
        if op_tok is None:
            return first
        op = op_tok.text.upper()
        items = [first, self._term()]
        while self._is("AND", "OR"):
            if self.tok.text.upper() != op:
                raise self._unexpected()
            self.i += 1
            items.append(self._term())
        return Junction(op, tuple(items))

    def _term(self) -> Condition:
        if self._accept("NOT"):
            return Negation(self._term())
        if self._at_punct("("):
            self.i += 1
            inner = self._condition()
            self._expect_punct(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        ref = self._field()
        if self.tok.kind == "op":
            op = "!=" if self.tok.text == "<>" else self.tok.text
            self.i += 1
            return Comparison(ref, op, (self._value(),))
        if self._accept("LIKE"):
            return Comparison(ref, "LIKE", (self._value(),))
        negated = bool(self._accept("NOT"))
        self._expect("IN")
        self._expect_punct("(")
        values = [self._value()]
        while self._at_punct(","):
            self.i += 1
            values.append(self._value())
        self._expect_punct(")")
        return Comparison(ref, "NOT IN" if negated else "IN", tuple(values))

    def _value(self) -> Value:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            self.i += 1
            return Value(tok)
        if tok.kind != "ident" or "." in tok.text:
            raise self._unexpected()
        word = tok.text.upper()
        self.i += 1
        if word in _RANGE_LITERALS_N:
            self._expect_punct(":")
            return Value(tok, self._int())
        if word in ("TRUE", "FALSE", "NULL") or word in _RANGE_LITERALS:
            return Value(tok)
        raise self._unexpected(tok)


# -- date literals --------------------------------------------------------------------------------------

_RANGE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
_RANGE_LITERALS_N = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})  # written LAST_N_DAYS:n


def _today_range(today: date, word: str, n: int | None) -> tuple[date, date]:
    """[start, end) in days of a relative date literal; LAST_N_DAYS includes today, NEXT_N_DAYS starts
    tomorrow, as Salesforce defines them."""
    one = timedelta(days=1)
    if word == "TODAY":
        return today, today + one
    if word == "YESTERDAY":
        return today - one, today
    if word == "TOMORROW":
        return today + one, today + 2 * one
    assert n is not None
    if word == "LAST_N_DAYS":
        return today - n * one, today + one
    return today + one, today + (n + 1) * one  # NEXT_N_DAYS


def _midnight(d: date) -> str:
    return sf_datetime(datetime(d.year, d.month, d.day, tzinfo=UTC))


def _parse_datetime(text: str) -> datetime:
    """An unquoted SOQL datetime: fractional seconds optional, zone ``Z``, ``+hh:mm`` or ``+hhmm``."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, zone = text[:-6], text[-6:]
    if ":" not in zone:  # +hhmm
        main, zone = text[:-5], text[-5:-2] + ":" + text[-2:]
    if "." in main:
        head, frac = main.split(".")
        main = f"{head}.{frac[:6].ljust(6, '0')}"
    return datetime.fromisoformat(main + zone)


# -- compiler -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Point:
    value: Any  # None for null


@dataclass(frozen=True)
class _Range:
    """A date literal covering a span: [start, end) in the field's own encoding."""

    start: str
    end: str


@dataclass(frozen=True)
class _Resolved:
    column: Column
    sql: str  # the qualified column
    join: str | None  # relationship name needing a LEFT JOIN

    @property
    def comparable(self) -> str:
        """The column as WHERE and ORDER BY use it: text compares case-insensitively in SOQL. Ids,
        references, numbers, booleans and dates keep the binary collation, so their indexes stay usable."""
        text = self.column.field.type not in _UNCOLLATED_TYPES
        return self.sql + (" COLLATE NOCASE" if text else "")


class _Compiler:
    def __init__(self, soql: str, store: Store, obj: str, now: datetime):
        self.soql = soql
        self.store = store
        self.obj = obj
        # The sandbox's users all live in UTC: date literals are UTC days.
        self.today = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).date()
        self.joins: dict[str, str] = {}  # relationship name -> LEFT JOIN clause
        self.params: list[Any] = []

    def error(self, code: str, tok: Token, text: str) -> SoqlError:
        return SoqlError(code, _located(self.soql, tok.pos, text))

    def resolve(self, ref: FieldRef) -> _Resolved:
        if len(ref.parts) == 1:
            f = self.store.field(self.obj, ref.parts[0])
            if f is None:
                raise self._no_column(ref, ref.parts[0], self.obj)
            return _Resolved(Column(f.name, (f.name,), f, None), f'"t"."{f.name}"', None)
        if len(ref.parts) > 2:
            raise self.error("MALFORMED_QUERY", ref.token, f"unexpected token: '{ref.token.text}'")
        rel_name, leaf = ref.parts
        rel = next(
            (
                f
                for f in self.store.fields(self.obj)
                if f.relationship_name and f.relationship_name.lower() == rel_name.lower()
            ),
            None,
        )
        # Polymorphic lookups (Owner: User or Group) resolve to their first target, as the sandbox has no Group.
        target = self.store.canonical_object(rel.reference_to[0]) if rel and rel.reference_to else None
        if rel is None or rel.relationship_name is None or target is None:
            raise self.error(
                "INVALID_FIELD",
                ref.token,
                f"Didn't understand relationship '{rel_name}' in field path. {_CUSTOM_RELATIONSHIP_HINT}",
            )
        f = self.store.field(target, leaf)
        if f is None:
            raise self._no_column(ref, leaf, target)
        alias = f"r_{rel.relationship_name}"
        self.joins.setdefault(
            rel.relationship_name, f'LEFT JOIN "{target}" AS "{alias}" ON "{alias}"."Id" = "t"."{rel.name}"'
        )
        column = Column(f"{rel.relationship_name}.{f.name}", (rel.relationship_name, f.name), f, target)
        return _Resolved(column, f'"{alias}"."{f.name}"', rel.relationship_name)

    def _no_column(self, ref: FieldRef, name: str, entity: str) -> SoqlError:
        return self.error(
            "INVALID_FIELD", ref.token, f"No such column '{name}' on entity '{entity}'. {_CUSTOM_FIELD_HINT}"
        )

    # -- WHERE ----------------------------------------------------------------------------------------
    def condition(self, cond: Condition, used_joins: set[str]) -> str:
        if isinstance(cond, Junction):
            return "(" + f" {cond.op} ".join(self.condition(c, used_joins) for c in cond.items) + ")"
        if isinstance(cond, Negation):
            # Salesforce's NOT is two-valued: a row whose inner test is unknown (null field) matches NOT.
            return f"NOT COALESCE({self.condition(cond.item, used_joins)}, 0)"
        resolved = self.resolve(cond.field)
        if resolved.join:
            used_joins.add(resolved.join)
        f = resolved.column.field
        if cond.op == "LIKE" and _soql_type(f) != "string":
            raise self.error(
                "INVALID_FIELD",
                cond.field.token,
                f"invalid operator LIKE on field '{f.name}' of type {_soql_type(f)}",
            )
        operands = [self._operand(f, v, like=cond.op == "LIKE") for v in cond.values]
        expr = resolved.comparable
        if cond.op == "LIKE":
            return f"{expr} LIKE {self._bind(operands[0])} ESCAPE '\\'"
        if cond.op in ("IN", "NOT IN"):
            return self._membership(expr, operands, negated=cond.op == "NOT IN")
        return self._compare(expr, cond.op, operands[0])

    def _bind(self, operand: _Point | _Range) -> str:
        assert isinstance(operand, _Point)
        self.params.append(operand.value)
        return "?"

    def _compare(self, expr: str, op: str, operand: _Point | _Range) -> str:
        if isinstance(operand, _Range):
            lo, hi = operand.start, operand.end
            sql, values = {
                "=": (f"({expr} >= ? AND {expr} < ?)", [lo, hi]),
                "!=": (f"({expr} IS NULL OR {expr} < ? OR {expr} >= ?)", [lo, hi]),
                "<": (f"{expr} < ?", [lo]),
                "<=": (f"{expr} < ?", [hi]),
                ">": (f"{expr} >= ?", [hi]),
                ">=": (f"{expr} >= ?", [lo]),
            }[op]
            self.params.extend(values)
            return sql
        if operand.value is None:
            # Only equality means anything against null; an ordering test against null matches nothing.
            return {"=": f"{expr} IS NULL", "!=": f"{expr} IS NOT NULL"}.get(op, "0")
        if op == "!=":
            # In SOQL a null field is "not equal" to any value.
            return f"({expr} IS NULL OR {expr} <> {self._bind(operand)})"
        return f"{expr} {op} {self._bind(operand)}"

    def _membership(self, expr: str, operands: list[_Point | _Range], *, negated: bool) -> str:
        if all(isinstance(o, _Point) and o.value is not None for o in operands):
            marks = ", ".join(self._bind(o) for o in operands)
            return f"({expr} IS NULL OR {expr} NOT IN ({marks}))" if negated else f"{expr} IN ({marks})"
        any_equal = "(" + " OR ".join(self._compare(expr, "=", o) for o in operands) + ")"
        return f"NOT COALESCE({any_equal}, 0)" if negated else any_equal

    def _operand(self, f: FieldDef, v: Value, *, like: bool) -> _Point | _Range:
        """The literal in the field's store encoding, refusing the type mismatches Salesforce refuses."""
        tok = v.token
        word = tok.text.upper() if tok.kind == "ident" else ""
        if word == "NULL":
            return _Point(None)
        kind = f.type
        if kind == "boolean":
            if word in ("TRUE", "FALSE"):
                return _Point(int(word == "TRUE"))
        elif kind in _NUMERIC_TYPES:
            if tok.kind == "number":
                return _Point(float(tok.text) if "." in tok.text else int(tok.text))
        elif kind in ("date", "datetime"):
            operand = self._date_operand(kind, tok, word, v.n)
            if operand is not None:
                return operand
        elif tok.kind == "string":
            return _Point(_decode_string(self.soql, tok, like=like))
        raise self._type_mismatch(f, tok)

    def _date_operand(self, kind: str, tok: Token, word: str, n: int | None) -> _Point | _Range | None:
        """A point for an exact literal of the field's own kind (a datetime literal on a date field means its
        UTC day); a span for a day given to a datetime field and for TODAY, LAST_N_DAYS:n and the like."""
        try:
            if tok.kind == "datetime":
                moment = _parse_datetime(tok.text)
                return _Point(
                    sf_datetime(moment) if kind == "datetime" else moment.astimezone(UTC).date().isoformat()
                )
            if tok.kind == "date":
                day = date.fromisoformat(tok.text)
                if kind == "date":
                    return _Point(day.isoformat())
                start, end = day, day + timedelta(days=1)
            elif word in _RANGE_LITERALS or word in _RANGE_LITERALS_N:
                start, end = _today_range(self.today, word, n)
            else:
                return None
        except ValueError:  # e.g. 2024-13-45: shaped like a date, not one
            raise self.error("MALFORMED_QUERY", tok, f"unexpected token: '{tok.text}'") from None
        if kind == "date":
            return _Range(start.isoformat(), end.isoformat())
        return _Range(_midnight(start), _midnight(end))

    def _type_mismatch(self, f: FieldDef, tok: Token) -> SoqlError:
        soql_type = _soql_type(f)
        quoting = (
            "should be enclosed in quotes" if soql_type == "string" else "should not be enclosed in quotes"
        )
        return self.error(
            "INVALID_FIELD",
            tok,
            f"value of filter criterion for field '{f.name}' must be of type {soql_type} and {quoting}",
        )

    # -- ORDER BY -------------------------------------------------------------------------------------
    def order_by(self, keys: list[OrderKey]) -> str:
        parts = []
        for key in keys:
            resolved = self.resolve(key.field)
            direction = "DESC" if key.descending else "ASC"
            parts.append(f"{resolved.comparable} {direction} NULLS {'FIRST' if key.nulls_first else 'LAST'}")
        return " ORDER BY " + ", ".join(parts)


def _soql_type(f: FieldDef) -> str:
    """The type name Salesforce's filter errors use."""
    if f.type in ("boolean", "date"):
        return f.type
    if f.type == "datetime":
        return "dateTime"
    return _NUMERIC_TYPES.get(f.type, "string")


def parse(soql: str) -> Query:
    """The syntax tree of ``soql`` (MALFORMED_QUERY when it is not SOQL), for APIs that evaluate it themselves."""
    return _Parser(soql).parse()


def string_literal(soql: str, value: Value) -> str:
    """The text of a string literal of a parsed ``soql``."""
    return _decode_string(soql, value.token, like=False)


def compile_query(
    soql: str,
    store: Store,
    *,
    include_deleted: bool = False,
    bulk: bool = False,
    now: datetime | None = None,
) -> CompiledQuery:
    """Parse and check ``soql`` against the store's live schema; ``include_deleted`` is queryAll, ``bulk`` a
    Bulk API 2.0 job (which refuses COUNT() and OFFSET), ``now`` anchors TODAY and LAST_N_DAYS."""
    query = parse(soql)
    obj = store.canonical_object(query.object.text)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            _located(
                soql,
                query.object.pos,
                f"sObject type '{query.object.text}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            ),
        )
    if bulk and query.count is not None:
        raise SoqlError("INVALIDJOB", "Aggregate queries such as COUNT() are not supported by Bulk API 2.0")
    if bulk and query.offset is not None:
        raise SoqlError("INVALIDJOB", "OFFSET is not supported by Bulk API 2.0")
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SoqlError(
            "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed for apiName {obj} is {MAX_OFFSET}"
        )

    comp = _Compiler(soql, store, obj, now or datetime.now(UTC))
    columns: list[Column] = []
    select_sql: list[str] = []
    for ref in query.fields:
        resolved = comp.resolve(ref)
        if any(c.header == resolved.column.header for c in columns):
            raise comp.error(
                "DUPLICATE_FIELD", ref.token, f"duplicate field selected: {resolved.column.header}"
            )
        columns.append(resolved.column)
        select_sql.append(resolved.sql)

    filters = []
    if not include_deleted and store.field(obj, "IsDeleted") is not None:
        filters.append('"t"."IsDeleted" = 0')
    where_joins: set[str] = set()
    if query.where is not None:
        filters.append(comp.condition(query.where, where_joins))
    where = " WHERE " + " AND ".join(filters) if filters else ""
    order = comp.order_by(query.order) if query.order and query.count is None else ""

    base = f'FROM "{obj}" AS "t"'
    count_joins = "".join(f" {comp.joins[r]}" for r in comp.joins if r in where_joins)
    count_sql = f"SELECT COUNT(*) {base}{count_joins}{where}"
    # LIMIT/OFFSET are integers the parser checked, written into the text because count_sql shares ``params``.
    window = ""
    if query.limit is not None or query.offset is not None:
        window = f" LIMIT {-1 if query.limit is None else query.limit}"  # SQLite needs a LIMIT before OFFSET
        if query.offset is not None:
            window += f" OFFSET {query.offset}"
    if query.count is not None:
        sql = f"SELECT COUNT(*) FROM (SELECT 1 {base}{count_joins}{where}{window})" if window else count_sql
    else:
        all_joins = "".join(f" {j}" for j in comp.joins.values())
        sql = f"SELECT {', '.join(select_sql)} {base}{all_joins}{where}{order}{window}"
    return CompiledQuery(
        object=obj,
        columns=columns,
        is_count=query.count is not None,
        sql=sql,
        params=comp.params,
        count_sql=count_sql,
        limit=query.limit,
        offset=query.offset,
    )
