"""Bulk 2.0 result snapshots (sandbox/salesforce/csv_snapshots.py): every page, whatever rows it starts and ends
at, is the same CSV plain and gzipped, and its gzip stream is one valid member (CRC and length checked)."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.salesforce import csv_snapshots
from sandbox.salesforce.bulk_query import lines_select
from sandbox.salesforce.csv_snapshots import CsvSnapshots, SnapshotGone

HEADER = b'"Name","Active"\r\n'
NAMES = ["Zoë", 'say "hi"', "two\r\nlines", None, "a,b", "", "日本", "x" * 300, "last"]


def gunzip_one_member(data: bytes) -> bytes:
    z = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out = z.decompress(data)
    assert z.eof and z.unused_data == b""  # one member, its CRC and length verified by zlib
    return out


@pytest.fixture
def snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CsvSnapshots]:
    monkeypatch.setattr(csv_snapshots, "BLOCK_ROWS", 4)  # pages start and end inside and on block edges
    store = tmp_path / "store.sqlite"
    with sqlite3.connect(store) as c:
        c.execute('CREATE TABLE "Lead" ("Name" TEXT, "Active" INTEGER)')
        c.executemany('INSERT INTO "Lead" VALUES (?, ?)', [(n, i % 2) for i, n in enumerate(NAMES * 2)])
    yield CsvSnapshots(tmp_path / "results", store)


def expected_lines() -> list[bytes]:
    def quoted(name: str | None) -> str:
        return '"' + (name or "").replace('"', '""') + '"'

    return [f'{quoted(n)},"{"true" if i % 2 else "false"}"\r\n'.encode() for i, n in enumerate(NAMES * 2)]


def write(snapshots: CsvSnapshots, name: str, where: str = "") -> int:
    sql = f'SELECT "Name", "Active" FROM "Lead"{where} ORDER BY rowid'
    return snapshots.write(name, lines_select(sql, ["string", "boolean"], ",", "\r\n"), [])


def test_every_page_is_the_same_plain_and_gzipped(snapshots: CsvSnapshots) -> None:
    lines = expected_lines()
    assert write(snapshots, "job") == len(lines) == 18
    for first in range(len(lines) + 1):
        for end in range(first, len(lines) + 1):
            want = HEADER + b"".join(lines[first:end])
            assert b"".join(snapshots.page("job", first, end).plain(HEADER)) == want, (first, end)
            zipped = b"".join(snapshots.page("job", first, end).gzip(HEADER))
            assert gunzip_one_member(zipped) == want, (first, end)


def test_an_empty_result_and_a_dropped_snapshot(snapshots: CsvSnapshots) -> None:
    assert write(snapshots, "empty", " WHERE 0") == 0
    assert gunzip_one_member(b"".join(snapshots.page("empty", 0, 0).gzip(HEADER))) == HEADER
    write(snapshots, "job")
    streaming = snapshots.page("job", 0, 18).plain(HEADER)
    snapshots.drop("job")
    assert b"".join(streaming) == HEADER + b"".join(expected_lines())  # opened before the drop: read whole
    with pytest.raises(SnapshotGone):
        snapshots.page("job", 0, 1)
    with pytest.raises(SnapshotGone):
        snapshots.page("empty", 0, 1)  # past the end
    assert not list((snapshots.directory).glob("job.*"))
