"""Bulk 2.0 query results kept as files: each row's CSV line written once, when the job runs, with an index of
where every row starts, and the same lines compressed in blocks (DIR/salesforce_bulk_results/<job>.*).

A results page is then a byte range of the file, whatever ``maxRecords`` and locator the client asks for, and
a retried page is byte for byte the same. The snapshot is one read statement, so it is consistent however the
org changes meanwhile. Gzip is what clients ask for and what costs most to serve: every block of
``BLOCK_ROWS`` rows is deflated on its own while SQLite formats the next, and a page's gzip stream is those
blocks copied, with only the rows of a page that starts or ends inside a block compressed on request.
"""

from __future__ import annotations

import math
import os
import sqlite3
import struct
import zlib
from array import array
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, BinaryIO

BLOCK_ROWS = 10_000  # divides the default page (100,000 rows), so default pages are whole blocks
CHUNK_BYTES = 1 << 20
_INT = array("q").itemsize
_GZIP_HEADER = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])  # deflate, no name, no mtime, unknown OS
_EXTENSIONS = ("csv", "idx", "deflate", "blocks")


def _deflate(data: bytes) -> bytes:
    """``data`` as raw deflate blocks ending on a byte boundary and referring to nothing before them: pieces
    made so concatenate into one stream."""
    z = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)  # level 1: serving is CPU-bound
    return z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)


_FINAL_BLOCK = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # empty last block


class SnapshotGone(Exception):
    """The snapshot was dropped (expired, or the job was deleted)."""


def _read_int(f: BinaryIO, i: int) -> int:
    f.seek(i * _INT)
    return array("q", f.read(_INT))[0]


def _chunks(f: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
    f.seek(start)
    size = stop - start
    while size > 0 and (chunk := f.read(min(CHUNK_BYTES, size))):
        size -= len(chunk)
        yield chunk


class Page:
    """Rows ``first``..``end - 1`` of a snapshot, its files opened (so a snapshot dropped while the page
    streams is still read whole)."""

    def __init__(self, files: dict[str, BinaryIO], first: int, end: int):
        self.files = files
        rows = files["idx"]
        total = os.fstat(rows.fileno()).st_size // _INT - 1
        if not 0 <= first <= end <= total:
            raise SnapshotGone()
        # rows of whole blocks: from the first block boundary at or after `first` to the last at or before `end`
        self.first, self.end = first, end
        self.mid_first = min(math.ceil(first / BLOCK_ROWS) * BLOCK_ROWS, total)
        self.mid_end = end if end == total else end // BLOCK_ROWS * BLOCK_ROWS
        if self.mid_end < self.mid_first:
            self.mid_first = self.mid_end = end
        self.byte = {r: _read_int(rows, r) for r in (first, self.mid_first, self.mid_end, end)}

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def plain(self, header: bytes) -> Iterator[bytes]:
        try:
            yield header
            yield from _chunks(self.files["csv"], self.byte[self.first], self.byte[self.end])
        finally:
            self.close()

    def gzip(self, header: bytes) -> Iterator[bytes]:
        csv, byte = self.files["csv"], self.byte
        crc, size = zlib.crc32(header), len(header) + byte[self.end] - byte[self.first]
        try:
            yield _GZIP_HEADER + _deflate(header)
            for chunk in _chunks(csv, byte[self.first], byte[self.mid_first]):
                crc = zlib.crc32(chunk, crc)
                yield _deflate(chunk)
            blocks = self.files["blocks"]
            start = _read_int(blocks, math.ceil(self.mid_first / BLOCK_ROWS))
            yield from _chunks(
                self.files["deflate"], start, _read_int(blocks, math.ceil(self.mid_end / BLOCK_ROWS))
            )
            for chunk in _chunks(csv, byte[self.mid_first], byte[self.mid_end]):
                crc = zlib.crc32(chunk, crc)
            for chunk in _chunks(csv, byte[self.mid_end], byte[self.end]):
                crc = zlib.crc32(chunk, crc)
                yield _deflate(chunk)
            yield _FINAL_BLOCK + struct.pack("<II", crc, size & 0xFFFFFFFF)
        finally:
            self.close()


class CsvSnapshots:
    def __init__(self, directory: Path, store_path: Path):
        self.directory = directory
        self.store_path = store_path
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str, extension: str) -> Path:
        return self.directory / f"{name}.{extension}"

    def write(self, name: str, select: str, params: list[Any]) -> int:
        """Run ``select`` (one BLOB column: a whole CSV line with its ending) against the store and keep its
        rows in order; returns their count."""
        rows, blocks = array("q", [0]), array("q", [0])
        pending: Future[bytes] | None = None
        store = sqlite3.connect(self.store_path, timeout=60)
        with (
            closing(store),
            open(self._path(name, "csv"), "wb") as out,
            open(self._path(name, "deflate"), "wb") as deflated,
            ThreadPoolExecutor(1) as deflater,  # zlib and SQLite both let go of the GIL: the two overlap
        ):

            def keep(block: Future[bytes]) -> None:
                data = block.result()
                deflated.write(data)
                blocks.append(blocks[-1] + len(data))

            cursor = store.execute(select, params)
            while lines := [r[0] for r in cursor.fetchmany(BLOCK_ROWS)]:
                rows.extend(islice(accumulate(map(len, lines), initial=rows[-1]), 1, None))
                data = b"".join(lines)
                out.write(data)
                if pending is not None:
                    keep(pending)
                pending = deflater.submit(_deflate, data)
            if pending is not None:
                keep(pending)
        for extension, offsets in (("idx", rows), ("blocks", blocks)):
            with open(self._path(name, extension), "wb") as f:
                offsets.tofile(f)
        return len(rows) - 1

    def page(self, name: str, first: int, end: int) -> Page:
        files: dict[str, BinaryIO] = {}
        try:
            for extension in _EXTENSIONS:
                files[extension] = open(self._path(name, extension), "rb")  # noqa: SIM115 - Page closes
            return Page(files, first, end)
        except (FileNotFoundError, IndexError, ValueError, SnapshotGone):
            for f in files.values():
                f.close()
            raise SnapshotGone(name) from None

    def drop(self, name: str) -> None:
        for extension in _EXTENSIONS:
            self._path(name, extension).unlink(missing_ok=True)
