"""`make setup-org` (``python -m health.org_setup``): make a Salesforce org ready for the sync, as its
administrator.

What the sync needs of the org is what the run-start preflight checks (health/preflight.py): the custom fields it
writes on Lead and Contact (the score, number(6,0); high intent, checkbox; last engagement, datetime), edit access
for the integration user on them and on the consent and bounce fields it writes, read access on every field the
configuration reads. This creates the missing fields through the Tooling API and one permission set granting
that access, assigned to the integration user. Fields no permission set can grant (required ones such as
LastName, the Id, system fields: the describe's ``permissionable``) are left out: every user who sees the object
sees them.

It reads what exists first (Tooling query on CustomField, the describes, SOQL on PermissionSet, FieldPermissions
and PermissionSetAssignment), so a second ``--apply`` changes nothing. It is a dry run unless ``--apply``.
The administrator's credentials come from SALESFORCE_ADMIN_USERNAME / SALESFORCE_ADMIN_PASSWORD (+
SALESFORCE_ADMIN_SECURITY_TOKEN), or a prompt; they are used for this command alone, never cached or logged.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.sync_config import SyncConfig, config_path, load_sync_config
from health.preflight import field_needs
from ingest.clients import salesforce_soql
from ingest.clients.answers import UnexpectedAnswer, present, required, rows
from ingest.clients.errors import ApiError
from ingest.clients.salesforce_auth import SYSTEM, SalesforceConfig
from ingest.clients.salesforce_client import COLLECTION_MAX, SalesforceClient
from ingest.extract.salesforce import OBJECTS as EXTRACTED

PERMISSION_SET = "SFActOn_Sync"
PERMISSION_SET_LABEL = "SF Act-On Sync"
# raw table of the configuration's reads -> the object it comes from
_OBJECTS = {
    "lead": "Lead",
    "contact": "Contact",
    "account": "Account",
    "user": "User",
    "opportunity": "Opportunity",
    "campaign": "Campaign",
}


class SetupError(RuntimeError):
    """The org cannot be set up as asked; the message says what and how to fix it."""


@dataclass(frozen=True)
class FieldKind:
    """A custom field the sync writes: its label, its Tooling API Metadata and how the describe shows it."""

    label: str
    metadata: dict[str, Any]
    describe_type: str
    described: str

    def fits(self, meta: Mapping[str, Any]) -> bool:
        if meta.get("type") != self.describe_type:
            return False
        digits = ("precision", "scale")
        return self.describe_type != "double" or all(meta.get(d) == self.metadata[d] for d in digits)


# the sync.yaml key naming each custom field -> what it must be
KINDS = {
    "scores.salesforce_field": FieldKind(
        "Act-On Lead Score", {"type": "Number", "precision": 6, "scale": 0}, "double", "a number(6,0) field"
    ),
    "sales_prospects.high_intent_field": FieldKind(
        "Act-On High Intent", {"type": "Checkbox", "defaultValue": "false"}, "boolean", "a checkbox"
    ),
    "sales_prospects.last_engagement_field": FieldKind(
        "Act-On Last Engagement", {"type": "DateTime"}, "datetime", "a datetime field"
    ),
}


@dataclass(frozen=True)
class CustomFieldNeed:
    key: str
    object: str
    name: str

    @property
    def kind(self) -> FieldKind:
        return KINDS[self.key]

    def body(self) -> dict[str, Any]:
        return {
            "FullName": f"{self.object}.{self.name}",
            "Metadata": {**self.kind.metadata, "label": self.kind.label},
        }


@dataclass(frozen=True)
class Needs:
    """What the configuration needs of the org: custom fields, and access per (object, field): True for edit."""

    custom_fields: list[CustomFieldNeed]
    access: dict[tuple[str, str], bool]


def needs(config: SyncConfig) -> Needs:
    custom, access = [], {}
    for need in field_needs(config):
        if need.key in KINDS:
            custom.append(CustomFieldNeed(need.key, need.object, need.field))
        access[(need.object, need.field)] = access.get((need.object, need.field), False) or need.writes
    for table, names in config.configured_salesforce_fields().items():
        for name in names:
            access.setdefault((_OBJECTS[table], name), False)
    return Needs(custom, access)


@dataclass
class Plan:
    """What the org lacks, in the order it is created."""

    integration_user: str
    user_id: str
    fields: list[CustomFieldNeed] = field(default_factory=list)
    permission_set_id: str | None = None
    grants: list[tuple[str, str, bool]] = field(default_factory=list)  # object, field, edit
    upgrades: list[tuple[str, str, str]] = field(default_factory=list)  # FieldPermissions Id, object, field
    assign: bool = False
    skipped: list[str] = field(default_factory=list)  # fields no permission set can grant, or that are absent

    @property
    def empty(self) -> bool:
        return not (
            self.fields or self.permission_set_id is None or self.grants or self.upgrades or self.assign
        )

    def lines(self) -> list[str]:
        out = [
            f"create {f.kind.described} {f.object}.{f.name} (Tooling API CustomField)" for f in self.fields
        ]
        if self.permission_set_id is None:
            out.append(f"create the permission set {PERMISSION_SET}")
        out += [
            f"grant {PERMISSION_SET} read and edit on {obj}.{name}" for obj, name, edit in self.grants if edit
        ]
        reads: dict[str, list[str]] = {}
        for obj, name, edit in self.grants:
            if not edit:
                reads.setdefault(obj, []).append(name)
        out += [f"grant {PERMISSION_SET} read on {obj}: {', '.join(names)}" for obj, names in reads.items()]
        out += [
            f"grant {PERMISSION_SET} edit on {obj}.{name} (it reads it already)"
            for _, obj, name in self.upgrades
        ]
        if self.assign:
            out.append(f"assign {PERMISSION_SET} to the integration user {self.integration_user}")
        return out


def _query(client: SalesforceClient, soql: str) -> list[dict[str, Any]]:
    return [r for page in client.query_pages(soql, include_deleted=False) for r in page["records"]]


def _tooling_fields(client: SalesforceClient, objects: Sequence[str]) -> set[tuple[str, str]]:
    """(object, API name) of the custom fields on ``objects``, lower-cased: the Tooling API sees a field even
    when no permission lets the administrator's describe show it."""
    call = "GET tooling/query CustomField"
    listed = ", ".join(salesforce_soql.quote(o) for o in objects)
    soql = f"SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId IN ({listed})"
    answer = client.json("GET", "tooling/query", params={"q": soql})
    required(answer, SYSTEM, call, "done", bool)
    if not answer["done"]:  # a handful of fields per object: one page, or something unexpected
        raise UnexpectedAnswer(SYSTEM, call, "more than one page of custom fields")
    return {
        (
            str(present(r, SYSTEM, call, "TableEnumOrId")).lower(),
            f"{present(r, SYSTEM, call, 'DeveloperName')}__c".lower(),
        )
        for r in rows(answer, SYSTEM, call, "records")
    }


def _fields_by_name(client: SalesforceClient, obj: str) -> dict[str, dict[str, Any]]:
    return {f["name"].lower(): f for f in client.describe(obj)["fields"]}


def _extracted_standard_fields(
    described: Mapping[str, Mapping[str, dict[str, Any]]],
) -> dict[tuple[str, str], bool]:
    """Read access on the standard fields of the objects the extract reads (it reads every field the integration
    user's describe shows, and the models select standard fields by name); of the org's own custom fields only
    those the configuration names are granted."""
    out = {}
    for obj in EXTRACTED:
        for meta in described[obj].values():
            call = f"GET sobjects/{obj}/describe"
            if not required(meta, SYSTEM, call, "custom", bool) and required(
                meta, SYSTEM, call, "permissionable", bool
            ):
                out[(obj, meta["name"])] = False
    return out


def read_plan(client: SalesforceClient, config: SyncConfig, integration_user: str) -> Plan:
    """Compare what the configuration needs with what the org has (reads only)."""
    wanted = needs(config)
    users = _query(client, f"SELECT Id FROM User WHERE Username = {salesforce_soql.quote(integration_user)}")
    if not users:
        raise SetupError(
            f"no Salesforce user named {integration_user!r}: set SALESFORCE_USERNAME or pass "
            "--integration-user with the integration user's Username"
        )
    plan = Plan(integration_user, present(users[0], SYSTEM, "query User", "Id"))
    existing = _tooling_fields(client, sorted({f.object for f in wanted.custom_fields}))
    objects = sorted({o for o, _ in wanted.access} | set(EXTRACTED))
    described = {obj: _fields_by_name(client, obj) for obj in objects}
    for need in wanted.custom_fields:
        meta = described[need.object].get(need.name.lower())
        if meta is not None and not need.kind.fits(meta):
            raise SetupError(
                f"{need.object}.{need.name} exists as a {meta.get('type')} field, the sync writes "
                f"{need.kind.described} into it: set {need.key} to another name, or change the field's type"
            )
        if meta is None and (need.object.lower(), need.name.lower()) not in existing:
            if not need.name.endswith("__c"):
                raise SetupError(
                    f"{need.object}.{need.name} ({need.key}) does not exist and only custom fields (…__c) can "
                    f"be created: set {need.key} to a custom field's API name"
                )
            plan.fields.append(need)
    created = {(f.object, f.name) for f in plan.fields}
    grantable = _extracted_standard_fields(described)
    for (obj, name), edit in wanted.access.items():
        meta = described[obj].get(name.lower())
        if meta is None and (obj, name) not in created:
            if (obj.lower(), name.lower()) not in existing:
                plan.skipped.append(f"{obj}.{name}: not in the org (the preflight reports it)")
                continue
            grantable[(obj, name)] = edit  # a custom field the administrator's describe does not show
        elif meta is not None and not required(
            meta, SYSTEM, f"GET sobjects/{obj}/describe", "permissionable", bool
        ):
            plan.skipped.append(f"{obj}.{name}: not permissionable (everyone who sees {obj} sees it)")
        else:
            grantable[(obj, name)] = edit
    _read_permission_set(client, plan, grantable)
    return plan


def _read_permission_set(
    client: SalesforceClient, plan: Plan, grantable: dict[tuple[str, str], bool]
) -> None:
    found = _query(
        client, f"SELECT Id FROM PermissionSet WHERE Name = {salesforce_soql.quote(PERMISSION_SET)}"
    )
    granted: dict[str, tuple[str, bool, bool]] = {}
    if found:
        plan.permission_set_id = present(found[0], SYSTEM, "query PermissionSet", "Id")
        parent = salesforce_soql.quote(plan.permission_set_id)
        call = "query FieldPermissions"
        for r in _query(
            client,
            f"SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions WHERE ParentId = {parent}",
        ):
            granted[str(present(r, SYSTEM, call, "Field")).lower()] = (
                present(r, SYSTEM, call, "Id"),
                required(r, SYSTEM, call, "PermissionsRead", bool),
                required(r, SYSTEM, call, "PermissionsEdit", bool),
            )
        assigned = _query(
            client,
            f"SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = {parent} "
            f"AND AssigneeId = {salesforce_soql.quote(plan.user_id)}",
        )
        plan.assign = not assigned
    else:
        plan.assign = True
    for (obj, name), edit in sorted(grantable.items()):
        have = granted.get(f"{obj}.{name}".lower())
        if have is None or not have[1]:
            plan.grants.append((obj, name, edit))
        elif edit and not have[2]:
            plan.upgrades.append((have[0], obj, name))


def _created_id(answer: Any, call: str) -> str:
    """The new record's Id; a record Salesforce refused stops the setup with its errors."""
    if not required(answer, SYSTEM, call, "success", bool):
        raise SetupError(f"Salesforce refused {call}: {rows(answer, SYSTEM, call, 'errors')}")
    return required(answer, SYSTEM, call, "id", str)


def apply(client: SalesforceClient, plan: Plan, say: Callable[[str], None]) -> None:
    """Create what the plan lists, in order, saying each as it is done."""
    for need in plan.fields:
        _created_id(
            client.json("POST", "tooling/sobjects/CustomField", json=need.body()), "POST tooling CustomField"
        )
        say(f"created {need.kind.described} {need.object}.{need.name}")
    if plan.permission_set_id is None:
        body = {
            "Name": PERMISSION_SET,
            "Label": PERMISSION_SET_LABEL,
            "Description": "What the Salesforce-Act-On sync reads and writes (made by make setup-org)",
        }
        plan.permission_set_id = _created_id(
            client.json("POST", "sobjects/PermissionSet", json=body), "POST PermissionSet"
        )
        say(f"created the permission set {PERMISSION_SET}")
    for start in range(0, len(plan.grants), COLLECTION_MAX):
        chunk = plan.grants[start : start + COLLECTION_MAX]
        records = [
            {
                "attributes": {"type": "FieldPermissions"},
                "ParentId": plan.permission_set_id,
                "SobjectType": obj,
                "Field": f"{obj}.{name}",
                "PermissionsRead": True,
                "PermissionsEdit": edit,
            }
            for obj, name, edit in chunk
        ]
        call = "POST composite/sobjects FieldPermissions"
        answers = client.json("POST", "composite/sobjects", json={"allOrNone": False, "records": records})
        if not isinstance(answers, list) or len(answers) != len(chunk):
            raise UnexpectedAnswer(SYSTEM, call, f"expected {len(chunk)} results, got {str(answers)[:200]}")
        for (obj, name, _), answer in zip(chunk, answers, strict=True):
            _created_id(answer, f"{call} {obj}.{name}")
        say(f"granted read on {len(chunk)} fields, edit on {sum(e for *_, e in chunk)} of them")
    for record_id, obj, name in plan.upgrades:
        client.request("PATCH", f"sobjects/FieldPermissions/{record_id}", json={"PermissionsEdit": True})
        say(f"granted edit on {obj}.{name}")
    if plan.assign:
        body = {"PermissionSetId": plan.permission_set_id, "AssigneeId": plan.user_id}
        _created_id(
            client.json("POST", "sobjects/PermissionSetAssignment", json=body), "POST PermissionSetAssignment"
        )
        say(f"assigned {PERMISSION_SET} to {plan.integration_user}")


class _SessionTokens:
    """The token cache's interface, in memory: the administrator's token lives as long as this command."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}

    def renew(
        self, key: str, stale: str | None, obtain: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> dict[str, Any]:
        current = self._entries.get(key)
        if current and current.get("access_token") != stale:
            return dict(current)
        self._entries[key] = obtain(None)  # a password grant each time: nothing to refresh from
        return dict(self._entries[key])


def admin_client(env: Mapping[str, str], prompt: bool) -> SalesforceClient:
    """A client logged in as the administrator by the password grant, on the org's connected app."""
    username = env.get("SALESFORCE_ADMIN_USERNAME", "")
    password = env.get("SALESFORCE_ADMIN_PASSWORD", "")
    if prompt and not username:
        username = input("Salesforce administrator's username: ").strip()
    if prompt and not password:
        password = getpass.getpass(f"Password of {username} (with its security token appended, if any): ")
    if not (username and password):
        raise SetupError(
            "no administrator credentials: set SALESFORCE_ADMIN_USERNAME and SALESFORCE_ADMIN_PASSWORD (+ "
            "SALESFORCE_ADMIN_SECURITY_TOKEN), or run it in a terminal to be asked"
        )
    config = dataclasses.replace(
        SalesforceConfig.from_env(env),
        username=username,
        password=password,
        security_token=env.get("SALESFORCE_ADMIN_SECURITY_TOKEN", ""),
        jwt_key_file="",
        refresh_token="",
    )
    if not config.client_id:
        raise SetupError(
            "SALESFORCE_CLIENT_ID (and SALESFORCE_CLIENT_SECRET) name the connected app to log in with"
        )
    return SalesforceClient(config, _SessionTokens())  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m health.org_setup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--apply", action="store_true", help="create what is missing (default: only list it)")
    parser.add_argument(
        "--integration-user", help="the integration user's Username (default: $SALESFORCE_USERNAME)"
    )
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    integration = args.integration_user or env.get("SALESFORCE_USERNAME", "")
    try:
        if not integration:
            raise SetupError("name the integration user: set SALESFORCE_USERNAME or pass --integration-user")
        config = load_sync_config()
        client = admin_client(env, prompt=sys.stdin.isatty())
        try:
            plan = read_plan(client, config, integration)
            for line in plan.skipped:
                print(f"  skipped {line}")
            if plan.empty:
                print(f"nothing to do: the org has everything {config_path()} needs")
            elif args.apply:
                apply(client, plan, lambda line: print(f"  {line}", flush=True))
            else:
                print("dry run; with --apply this would:")
                for line in plan.lines():
                    print(f"  {line}")
        finally:
            client.session.close()
    except (SetupError, ApiError) as e:
        print(f"setup-org: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
