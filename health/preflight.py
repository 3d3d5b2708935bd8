"""Run-start check of the sync configuration against the Salesforce describe, before any extract or write.

Every field the configuration writes must exist on Lead and Contact and be updateable; every field it reads
(the report mapping on Opportunity and Campaign, the list field mappings on their object — ``Account.X`` / ``Owner.X``
followed through the lookup) must exist. A field renamed or deleted in Salesforce otherwise turns into a sync
that silently sends nothing, or a write-back that fails row by row; here it stops the run with the file, the
key, the object, the field and the fix, having written nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.sync_config import LOOKUPS, SyncConfig
from ingest.clients.salesforce_client import SalesforceClient
from ingest.clients.salesforce_frames import SKIPPED_TYPES

PERSON_OBJECTS = ("Lead", "Contact")
# raw table names of the lookups (sync_config.LOOKUPS) -> the object the describe is asked for
LOOKUP_OBJECTS = {"account": "Account", "user": "User"}


class PreflightError(RuntimeError):
    """The configuration names Salesforce fields that do not exist or cannot be written."""


@dataclass(frozen=True)
class FieldNeed:
    key: str  # the sync.yaml key that names the field
    object: str
    field: str
    writes: bool
    fix: str


def field_needs(config: SyncConfig) -> Iterator[FieldNeed]:
    """Every Lead, Contact and Opportunity field the configuration writes or reads, and the fix when it lacks."""
    prospects = config.sales_prospects
    # (key, field, what it must be, whether null turns its write-back off)
    person_writes = [
        ("scores.salesforce_field", config.scores.salesforce_field, "a number(6,0) field", False),
        ("sales_prospects.high_intent_field", prospects.high_intent_field, "a checkbox field", True),
        ("sales_prospects.last_engagement_field", prospects.last_engagement_field, "a datetime field", True),
    ]
    for key, name, kind, optional in person_writes:
        if name is None:  # a prospect field set to null: not written, so the org need not have it
            continue
        for obj in PERSON_OBJECTS:
            fix = (
                f"create {kind} {name} on {obj} (same API name on Lead and Contact) with edit access for the "
                f"integration user (run `make setup-org`), or set {key} to the API name the org uses"
                + (" (or to null to write none)" if optional else "")
            )
            yield FieldNeed(key, obj, name, True, fix)
    direction = config.optouts.direction
    if direction != "off":
        # pull only reads the box; push writes it, and the hard-bounce fields with it
        pushes = direction in ("push", "both")
        standard = ["HasOptedOutOfEmail", *(["EmailBouncedReason", "EmailBouncedDate"] if pushes else [])]
        for name in standard:
            for obj in PERSON_OBJECTS:
                fix = (
                    f"give the integration user {'edit' if pushes else 'read'} access to the standard field "
                    f"{obj}.{name} (run `make setup-org`), or set optouts.direction to "
                    f"{'pull' if pushes else 'off'}"
                )
                yield FieldNeed("optouts.direction", obj, name, pushes, fix)
    for key, name in config.report_mapping.opportunity_fields().items():
        fix = f"set report_mapping.{key} to an existing Opportunity field's API name"
        yield FieldNeed(f"report_mapping.{key}", "Opportunity", name, False, fix)
    for key, names in config.report_mapping.campaign_fields().items():
        for name in names:
            fix = f"name an existing Campaign field's API name in report_mapping.{key}"
            yield FieldNeed(f"report_mapping.{key}", "Campaign", name, False, fix)


def _list_needs(config: SyncConfig) -> Iterator[tuple[str, str, str]]:
    """(key, object, field path) of every list field mapping."""
    for i, lst in enumerate(config.lists):
        for heading, path in lst.fields.items():
            yield f"lists[{i}].fields.{heading}", lst.object, path


class _Describes:
    """Field metadata per object, described once each, names matched case-insensitively as Salesforce does."""

    def __init__(self, client: SalesforceClient):
        self.client = client
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}

    def _described(self, obj: str) -> dict[str, dict[str, Any]]:
        if obj not in self._fields:
            # the client checked the describe's fields as it arrived: a describe without them raised there,
            # never read here as an object without fields (every configured field "missing")
            fields = self.client.describe(obj)["fields"]
            self._fields[obj] = {f["name"].lower(): f for f in fields}
        return self._fields[obj]

    def field(self, obj: str, name: str) -> dict[str, Any] | None:
        return self._described(obj).get(name.lower())

    def relationship(self, obj: str, name: str) -> dict[str, Any] | None:
        """The lookup field whose relationship name is ``name`` (``Account`` -> AccountId)."""
        return next(
            (
                f
                for f in self._described(obj).values()
                if (f.get("relationshipName") or "").lower() == name.lower()
            ),
            None,
        )


def configuration_problems(client: SalesforceClient, config: SyncConfig, source: str | Path) -> list[str]:
    """Every problem, each as one line naming the file, the key, the object and field, and the fix."""
    describes = _Describes(client)
    problems = []
    for need in field_needs(config):
        meta = describes.field(need.object, need.field)
        if meta is None:
            problems.append(
                f"{source}: {need.key}: {need.object}.{need.field} does not exist; fix: {need.fix}"
            )
        elif need.writes and not meta.get("updateable"):
            problems.append(
                f"{source}: {need.key}: {need.object}.{need.field} is not updateable; fix: {need.fix}"
            )
    for key, obj, path in _list_needs(config):
        lookup, _, name = path.rpartition(".")
        target = obj
        if lookup:
            if describes.relationship(obj, lookup) is None:
                problems.append(
                    f"{source}: {key}: {obj} has no {lookup} lookup (in {path!r}); fix: map a {obj} field or "
                    f"follow one of {', '.join(LOOKUPS[obj])}"
                )
                continue
            target = LOOKUP_OBJECTS[LOOKUPS[obj][lookup]]
        meta = describes.field(target, name)
        if meta is None:
            problems.append(
                f"{source}: {key}: {target}.{name} does not exist (mapped as {path!r} on the {obj} list); "
                f"fix: set {key} to an existing {target} field's API name"
            )
        elif meta.get("type") in SKIPPED_TYPES:
            problems.append(
                f"{source}: {key}: {target}.{name} is a {meta['type']} field, which the extract does not read; "
                f"fix: map one of its component fields (e.g. MailingCity) instead"
            )
    return problems


def preflight(client: SalesforceClient, config: SyncConfig, source: str | Path) -> None:
    """Raise PreflightError listing every problem; reads the describe only (writes nothing)."""
    problems = configuration_problems(client, config, source)
    if problems:
        raise PreflightError(
            "the sync configuration does not match the Salesforce org; nothing was written:\n  "
            + "\n  ".join(problems)
        )
