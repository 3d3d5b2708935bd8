"""The API floors the benchmark holds each step to: the fewest calls the APIs' page and batch sizes allow."""

from __future__ import annotations

import pytest

from benchmarks import floors


@pytest.mark.parametrize(
    ("rows", "removed", "create", "calls"),
    [
        (0, 0, False, 0),
        (9_770, 0, False, 4),  # a merge upload and a status poll per list
        (9_770, 0, True, 6),  # and each list's creation on the first run
        (1_500, 1_500, False, 15),  # removals only: Act-On deletes 100 records a call
        (9_770, 1_501, False, 4 + 16),
    ],
)
def test_the_list_sync_floor_counts_uploads_and_bulk_deletes(
    rows: int, removed: int, create: bool, calls: int
) -> None:
    assert floors.acton_list_sync_calls(rows, removed, lists=2, create=create) == calls


def test_a_salesforce_read_takes_rest_pages_or_a_bulk_job_whichever_is_fewer() -> None:
    assert floors.sf_query_calls(0) == 1  # the empty page that says nothing changed
    assert floors.sf_query_calls(2_000) == 1
    assert floors.sf_query_calls(4_000) == 2  # two REST pages
    assert floors.sf_query_calls(9_413) == 3  # a Bulk job: create, a poll, one result page
    assert floors.sf_query_calls(1_000_000) == 2 + 10  # create, a poll, 10 result pages of 100,000
