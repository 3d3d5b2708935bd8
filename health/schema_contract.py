"""Check 6, schema contract (blocking, before any write-back): every field the configuration maps still exists
with a compatible type, and every field the sync writes is updateable. The existence and write-access rules are
the preflight's (``configuration_problems``); this adds the types, so that a field replaced by one of another
type stops the push instead of failing row by row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from common.sync_config import SyncConfig
from health.describe import FieldCatalog
from health.preflight import PERSON_OBJECTS, configuration_problems
from health.result import CheckResult, passing, status_of
from ingest.clients.salesforce_client import SalesforceClient

NAME = "schema_contract"
TITLE = "Schema contract"
NUMBER = frozenset({"double", "int", "currency", "percent", "long"})
TEXT = frozenset({"string", "picklist", "textarea", "combobox", "email", "phone", "url"})
# (sync.yaml key, object, field, compatible describe types, what the sync needs)
Typed = tuple[str, str, str, frozenset[str], str]


def _typed_fields(config: SyncConfig) -> Iterator[Typed]:
    person = [
        ("scores.salesforce_field", config.scores.salesforce_field, NUMBER, "a number"),
        (
            "sales_prospects.high_intent_field",
            config.sales_prospects.high_intent_field,
            frozenset({"boolean"}),
            "a checkbox",
        ),
        (
            "sales_prospects.last_engagement_field",
            config.sales_prospects.last_engagement_field,
            frozenset({"datetime"}),
            "a datetime",
        ),
    ]
    if config.optouts.direction != "off":
        person.append(("optouts.direction", "HasOptedOutOfEmail", frozenset({"boolean"}), "a checkbox"))
    if config.optouts.direction in ("push", "both"):
        person += [
            ("optouts.direction", "EmailBouncedReason", TEXT, "a text field"),
            ("optouts.direction", "EmailBouncedDate", frozenset({"datetime", "date"}), "a date/time"),
        ]
    for key, field, types, kind in person:
        if field is None:  # a prospect field set to null is not written: nothing to check
            continue
        for obj in PERSON_OBJECTS:
            yield key, obj, field, types, kind
    m = config.report_mapping
    opportunity = [
        ("amount", m.amount, NUMBER, "a number or currency"),
        ("stage", m.stage, TEXT, "a picklist or text"),
        ("close_date", m.close_date, frozenset({"date", "datetime"}), "a date"),
        ("is_won", m.is_won, frozenset({"boolean"}), "a checkbox"),
        ("is_closed", m.is_closed, frozenset({"boolean"}), "a checkbox"),
        ("lead_source", m.lead_source, TEXT, "a picklist or text"),
        (
            "primary_campaign",
            m.primary_campaign,
            frozenset({"reference", "id", "string"}),
            "a Campaign lookup",
        ),
    ]
    for key, field, types, kind in opportunity:
        yield f"report_mapping.{key}", "Opportunity", field, types, kind
    for key, fields in m.campaign_fields().items():
        for field in fields:
            yield f"report_mapping.{key}", "Campaign", field, NUMBER, "a number or currency"


def check_schema_contract(client: SalesforceClient, config: SyncConfig, source: str | Path) -> CheckResult:
    problems = configuration_problems(client, config, source)
    catalog = FieldCatalog(client)
    checked = 0
    for key, obj, field, types, kind in _typed_fields(config):
        checked += 1
        meta = catalog.field(obj, field)
        if meta is not None and meta.get("type") not in types:
            problems.append(
                f"{source}: {key}: {obj}.{field} is of type {meta.get('type')}, the sync needs {kind}; "
                f"fix: point {key} at {kind} field"
            )
    counts: dict[str, int | float] = {"fields_checked": checked, "problems": len(problems)}
    if not problems:
        return passing(
            NAME,
            TITLE,
            "every mapped Salesforce field exists with a compatible type, and every field the sync writes is "
            "updateable",
            counts,
        )
    return CheckResult(
        NAME,
        TITLE,
        status_of(True),
        f"{len(problems)} mapped Salesforce fields are missing, read-only or of the wrong type, so the "
        "write-back is stopped before it sends anything: " + " | ".join(problems),
        "rename the field back in Salesforce, or update sync.yaml to the field's new API name (each problem "
        "names the key and the fix); a field the org never had, or the integration user may not write: "
        "`make setup-org`; then run the sync job",
        counts,
        [{"problem": p} for p in problems],
    )
