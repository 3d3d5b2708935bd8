"""Check 4, funnel or ROI report empty or incomplete: marts without rows, and the share of opportunities
missing the amount, stage or close date the report mapping points at."""

from __future__ import annotations

import duckdb

from common.sync_config import SyncConfig
from health.result import CheckResult, missing_models, passing, rows, sample, status_of

NAME = "reports_incomplete"
TITLE = "Funnel or ROI report empty or incomplete"
MARTS = ("people", "funnel_report", "roi_report", "opportunities")
MAPPED = {
    "amount": "amount",
    "stage": "stage",
    "close_date": "close_date",
}  # report_mapping key -> mart column
FAIL_SHARE = (
    0.5  # more than half the opportunities without a mapped value: the mapping points at the wrong field
)
WARN_SHARE = 0.2


def check_reports_incomplete(conn: duckdb.DuckDBPyConnection, config: SyncConfig) -> CheckResult:
    absent = missing_models(conn, NAME, TITLE, *(f"marts.{m}" for m in MARTS))
    if absent:
        return absent
    counts: dict[str, int | float] = {
        f"rows.{m}": conn.execute(f"SELECT count(*) FROM marts.{m}").fetchone()[0]  # type: ignore[index]
        for m in MARTS
    }
    empty = [m for m in MARTS if not counts[f"rows.{m}"]]
    total = int(counts["rows.opportunities"])
    shares = {}
    for key, column in MAPPED.items():
        missing = conn.execute(f"SELECT count(*) FROM marts.opportunities WHERE {column} IS NULL").fetchone()[
            0
        ]  # type: ignore[index]
        counts[f"missing.{key}"] = missing
        shares[key] = missing / total if total else 0.0
        counts[f"missing_share.{key}"] = round(shares[key], 3)
    bad = [k for k, s in shares.items() if s > FAIL_SHARE]
    thin = [k for k, s in shares.items() if WARN_SHARE < s <= FAIL_SHARE]
    mapping = config.report_mapping.opportunity_fields()
    if not empty and not bad and not thin:
        return passing(NAME, TITLE, f"the funnel and ROI marts are filled ({total} opportunities)", counts)
    parts, fixes = [], []
    if empty:
        parts.append(
            f"{', '.join(f'marts.{m}' for m in empty)} {'has' if len(empty) == 1 else 'have'} no rows"
        )
        fixes.append(
            "run the sync job (extract and dbt) and check that Salesforce has Opportunities and Campaigns"
        )
    for key in bad + thin:
        parts.append(
            f"{shares[key]:.0%} of {total} opportunities have no {key.replace('_', ' ')} "
            f"(report_mapping.{key} = {mapping[key]})"
        )
    if bad or thin:
        keys = ", ".join(f"report_mapping.{k}" for k in bad + thin)
        fixes.append(
            f"review your report mapping: set {keys} in sync.yaml to the Opportunity field that holds the value "
            "(setup guide step 6, Report Mapping)"
        )
    columns = ", ".join(MAPPED.values())
    samples = rows(
        conn,
        f"SELECT opportunity_id, opportunity_name, {columns} FROM marts.opportunities "
        f"WHERE {' OR '.join(f'{c} IS NULL' for c in MAPPED.values())} ORDER BY opportunity_id",
    )
    return CheckResult(
        NAME,
        TITLE,
        status_of(bool(empty or bad), warned=bool(thin)),
        "; ".join(parts),
        "; ".join(fixes),
        counts,
        sample(samples),
    )
