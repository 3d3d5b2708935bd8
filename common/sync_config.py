"""The sync configuration (`sync.yaml`): which lists, which directions, which fields, which thresholds.

Loaded and validated before anything runs, so that a typo fails the run with a message naming the file,
the key, what is wrong and how to fix it — instead of a sync that silently sends nothing.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from croniter import CroniterBadDateError, croniter
from dagster._utils.schedules import is_valid_cron_string
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PATH = Path("sync.yaml")
ENV_VAR = "SYNC_CONFIG"

Direction = Literal["pull", "push", "both", "off"]
SalesforceObject = Literal["Contact", "Lead"]

# A list maps any heading to a field; these are the headings every list carries for its own use: Email (the
# merge key), Lead Score (the behavioural score, never Salesforce's copy) and the Salesforce Id the list sync adds
# to link a record back. Act-On compares headings case-insensitively, and so does every check here.
EMAIL_HEADING = "Email"
LEAD_SCORE_HEADING = "Lead Score"
SALESFORCE_ID_HEADING = "Salesforce Id"
# Lookups a list field may follow, per object: "<Relationship>.<Field>" reads the related record.
LOOKUPS = {"Contact": {"Account": "account", "Owner": "user"}, "Lead": {"Owner": "user"}}
PRIMARY_SCORE = "acton_primary_score"
SCORE_FIELD_PREFIX = "field:"
FUNNEL_STAGES = ("known", "engaged", "mql", "sql", "opportunity", "won")
FIXED_STAGES = ("known", "won")
# Of the Act-On message event types the extract lands (raw_acton.message_events: SENT, OPENED, CLICKED, BOUNCED,
# OPT_OUT, SPAM), those that can mean a person engaged.
ENGAGEMENT_EVENTS = ("SENT", "OPENED", "CLICKED")

_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FIELD_PATH = re.compile(r"^(?:([A-Za-z][A-Za-z0-9_]*)\.)?([A-Za-z][A-Za-z0-9_]*)$")


class SyncConfigError(ValueError):
    """sync.yaml is missing, unreadable or invalid; the message says where and how to fix it."""


class _FixableError(ValueError):
    """A validation failure whose message already carries its fix (raised inside validators)."""


# --- cron ---------------------------------------------------------------------------------------------
# A schedule becomes a Dagster schedule and the deadline of a freshness policy, and health/cron.py steps
# through it with croniter: it is valid when Dagster's own validator and croniter both take it and it ever ticks.


def cron_problem(expr: str) -> str | None:
    """Why Dagster would refuse ``expr`` as a schedule (5 fields, or an alias such as @daily), or None."""
    fields = len(expr.split())
    if fields != 5 and not expr.strip().startswith("@"):
        return f"has {fields} fields, a cron expression has 5 (minute hour day-of-month month day-of-week)"
    if not (is_valid_cron_string(expr) and croniter.is_valid(expr)):
        return (
            "is not a cron expression Dagster accepts (minute 0-59, hour 0-23, day of month 1-31, month 1-12 "
            "or jan-dec, day of week 0-7 or sun-sat; each as *, a value, a-b, */n or a list)"
        )
    try:
        croniter(expr).get_next()
    except CroniterBadDateError:
        return "never comes round (no month it names has that day)"
    return None


def _check_cron(expr: str) -> str:
    problem = cron_problem(expr)
    if problem:
        raise _FixableError(f"{expr!r} {problem}; fix: write e.g. '0 * * * *' for every hour")
    return expr


Cron = Annotated[str, AfterValidator(_check_cron)]


def _check_api_name(name: str) -> str:
    if not _API_NAME.match(name):
        raise _FixableError(
            f"{name!r} is not a Salesforce API name; fix: use the field's API name, e.g. Amount"
        )
    return name


ApiName = Annotated[str, AfterValidator(_check_api_name)]


# --- models ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ListConfig(_Strict):
    """One Act-On marketing list fed from one Salesforce object (setup guide steps 1 and 2)."""

    name: str = Field(min_length=1)
    object: SalesforceObject
    direction: Direction = "both"
    schedule: Cron = "0 * * * *"
    fields: dict[str, str]

    @model_validator(mode="after")
    def _check_fields(self) -> ListConfig:
        if self.fields.get(EMAIL_HEADING) != "Email":
            # The person key is the record's Email field; another field here would silently be ignored.
            raise _FixableError(
                "fields must map the 'Email' heading to the Email field (Act-On lists merge on EMAIL); "
                "fix: add `Email: Email`"
            )
        seen: dict[str, str] = {}
        for heading, path in self.fields.items():
            if not heading.strip() or heading != heading.strip():
                raise _FixableError(
                    f"fields has the heading {heading!r}; fix: write the Act-On column heading without "
                    "surrounding spaces"
                )
            if heading.lower() == SALESFORCE_ID_HEADING.lower():
                raise _FixableError(
                    f"fields.{heading}: the list sync writes each record's Id to its {SALESFORCE_ID_HEADING!r} "
                    "column itself; fix: remove this mapping"
                )
            first = seen.setdefault(heading.lower(), heading)
            if first != heading:
                raise _FixableError(
                    f"fields.{heading}: the heading is mapped twice (Act-On headings ignore case, so it is the "
                    f"column {first!r} again); fix: map each Act-On column once"
                )
            match = _FIELD_PATH.match(path)
            lookup = match.group(1) if match else None
            if match is None or (lookup and lookup not in LOOKUPS[self.object]):
                allowed = ", ".join(f"{rel}.<Field>" for rel in LOOKUPS[self.object])
                raise _FixableError(
                    f"fields.{heading} = {path!r} is not a {self.object} field; "
                    f"fix: use a {self.object} API name (e.g. FirstName) or {allowed}"
                )
        return self

    @property
    def lead_score_heading(self) -> str | None:
        """The heading of the Lead Score column, as written (any case), or None when the list has none."""
        return next((h for h in self.fields if h.lower() == LEAD_SCORE_HEADING.lower()), None)


def _default_lists() -> list[ListConfig]:
    common = {"Email": "Email", "First Name": "FirstName", "Last Name": "LastName"}
    tail = {"Lead Score": "ActOn_Lead_Score__c", "Salesforce Owner": "Owner.Name"}
    return [
        ListConfig(
            name="SFDC Master Contacts",
            object="Contact",
            fields={**common, "Company": "Account.Name", **tail},
        ),
        ListConfig(name="SFDC Master Leads", object="Lead", fields={**common, "Company": "Company", **tail}),
    ]


@dataclass(frozen=True)
class OptinGuard:
    """The plausibility guard's thresholds (ingest/extract/optout_holds.py applies them): how many opt-ins one
    whole read of the opt-out list may infer from absence before it is held."""

    max_inferred_optins: int = 25
    max_inferred_optin_share: float = 0.01

    def allowed(self, known_optouts: int) -> int:
        return max(self.max_inferred_optins, math.floor(self.max_inferred_optin_share * known_optouts))


class OptoutConfig(_Strict):
    """Account-level opt-out sync on HasOptedOutOfEmail (setup guide step 3)."""

    direction: Direction = "both"
    schedule: Cron = "0 */4 * * *"
    # New opt-outs are read every run; an opt-in (an email leaving Act-On's list) shows only in a read of the
    # whole list, which at a million contacts costs ~80 calls: by default as often as Act-On's own connector syncs.
    whole_list_every_hours: int = Field(default=4, ge=0)
    # A whole read that would infer more opt-ins than this many, or than this share of the known opt-outs
    # (whichever allows more), is held until an operator releases it (ingest/extract/optout_holds.py).
    max_inferred_optins: int = Field(default=25, ge=0)
    max_inferred_optin_share: float = Field(default=0.01, ge=0, le=1)

    @property
    def whole_list_every(self) -> timedelta:
        return timedelta(hours=self.whole_list_every_hours)

    @property
    def optin_guard(self) -> OptinGuard:
        return OptinGuard(self.max_inferred_optins, self.max_inferred_optin_share)


def _check_score_source(source: str) -> str:
    if source != PRIMARY_SCORE and not (
        source.startswith(SCORE_FIELD_PREFIX) and source[len(SCORE_FIELD_PREFIX) :].strip()
    ):
        raise _FixableError(
            f"{source!r} is not a score source; fix: use {PRIMARY_SCORE!r} or "
            f"'{SCORE_FIELD_PREFIX}<Act-On contact column>'"
        )
    return source


class ScoreConfig(_Strict):
    """Which behavioural score goes to which Salesforce field (setup guide step 4)."""

    source: Annotated[str, AfterValidator(_check_score_source)] = PRIMARY_SCORE
    salesforce_field: ApiName = "ActOn_Lead_Score__c"


class SalesProspectsConfig(_Strict):
    """Which of our lists feed Act-On's three Sales Prospects lists, and the fields sales see (step 5); a field
    set to null is not written (nor read), so an org without it still syncs everything else."""

    prospects_assigned_to_sales: str | None = "SFDC Master Leads"
    existing_contacts_assigned_to_sales: str | None = "SFDC Master Contacts"
    prospects_in_active_opportunities: str | None = "SFDC Master Contacts"
    high_intent_field: ApiName | None = "ActOn_High_Intent__c"
    last_engagement_field: ApiName | None = "ActOn_Last_Engagement__c"

    def written_fields(self) -> list[str]:
        """The fields the prospect write-back sets: those not turned off."""
        return [f for f in (self.high_intent_field, self.last_engagement_field) if f is not None]

    def assigned_lists(self) -> dict[str, str | None]:
        return {
            "prospects_assigned_to_sales": self.prospects_assigned_to_sales,
            "existing_contacts_assigned_to_sales": self.existing_contacts_assigned_to_sales,
            "prospects_in_active_opportunities": self.prospects_in_active_opportunities,
        }


def _names_once(values: list[str]) -> list[str]:
    # a value named twice would count twice (a cost field summed twice) or hide a typo meant as another value
    for i, value in enumerate(values):
        if value in values[:i]:
            raise _FixableError(f"{value!r} is named twice; fix: name it once")
    return values


def _names_some_of(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    for value in values:
        if value not in allowed:
            raise _FixableError(f"{value!r} is not {what}; fix: use some of {', '.join(allowed)}")
    return _names_once(values)


class ReportMapping(_Strict):
    """Opportunity fields the funnel and ROI reports read, and the Campaign fields that are its cost (step 6)."""

    amount: ApiName = "Amount"
    stage: ApiName = "StageName"
    close_date: ApiName = "CloseDate"
    is_won: ApiName = "IsWon"
    is_closed: ApiName = "IsClosed"
    lead_source: ApiName = "LeadSource"
    primary_campaign: ApiName = "CampaignId"
    # A campaign's cost is the sum of these Campaign fields; when none of them is set, the sum of the fallback.
    campaign_cost: Annotated[list[ApiName], AfterValidator(_names_once)] = Field(
        default_factory=lambda: ["ActualCost"], min_length=1
    )
    campaign_cost_fallback: Annotated[list[ApiName], AfterValidator(_names_once)] = Field(
        default_factory=lambda: ["BudgetedCost"]
    )

    def opportunity_fields(self) -> dict[str, str]:
        """report_mapping key -> the Opportunity field it names."""
        return self.model_dump(exclude={"campaign_cost", "campaign_cost_fallback"})

    def campaign_fields(self) -> dict[str, list[str]]:
        """report_mapping key -> the Campaign fields it names."""
        return {
            "campaign_cost": list(self.campaign_cost),
            "campaign_cost_fallback": list(self.campaign_cost_fallback),
        }


def _check_stages(stages: list[str]) -> list[str]:
    _names_some_of(stages, FUNNEL_STAGES, "a funnel stage")
    for stage in FIXED_STAGES:
        if stage not in stages:
            # Known is every person's entry, the cohort the first rate starts from; Won is the revenue the
            # ROI report counts: a funnel without either has no start or no end.
            raise _FixableError(f"{stage!r} cannot be turned off; fix: add {stage!r} to the list")
    return stages


def _check_engagement_events(events: list[str]) -> list[str]:
    return _names_some_of(
        events, ENGAGEMENT_EVENTS, "an engagement event type (bounces, opt-outs and spam are not)"
    )


class FunnelConfig(_Strict):
    """The funnel (Known → Engaged → MQL → SQL → Opportunity → Won): its period, the stages it reports and the
    rules that date them."""

    period: Literal["week", "month", "quarter"] = "month"
    stages: Annotated[list[str], AfterValidator(_check_stages)] = Field(
        default_factory=lambda: list(FUNNEL_STAGES)
    )
    engagement_events: Annotated[list[str], AfterValidator(_check_engagement_events)] = Field(
        default_factory=lambda: ["OPENED", "CLICKED"], min_length=1
    )
    mql_score: float = Field(default=50, ge=0)
    sql_lead_statuses: list[str] = Field(
        default_factory=lambda: ["Working - Contacted", "Closed - Converted"], min_length=1
    )
    engagement_window_days: int = Field(default=90, gt=0)
    high_intent_score: float = Field(default=75, ge=0)

    def stages_on(self) -> list[str]:
        """The stages reported, in funnel order whatever order sync.yaml lists them in."""
        return [stage for stage in FUNNEL_STAGES if stage in self.stages]


class WritebackConfig(_Strict):
    """How the write-back sends what the sync models computed."""

    bulk_threshold: int = Field(default=200, gt=0, description="rows at or above which Bulk API 2.0 is used")
    dry_run: bool = False


class SyncConfig(_Strict):
    lists: list[ListConfig] = Field(default_factory=_default_lists, min_length=1)
    optouts: OptoutConfig = Field(default_factory=OptoutConfig)
    scores: ScoreConfig = Field(default_factory=ScoreConfig)
    sales_prospects: SalesProspectsConfig = Field(default_factory=SalesProspectsConfig)
    report_mapping: ReportMapping = Field(default_factory=ReportMapping)
    funnel: FunnelConfig = Field(default_factory=FunnelConfig)
    writeback: WritebackConfig = Field(default_factory=WritebackConfig)

    @model_validator(mode="after")
    def _check_cross_references(self) -> SyncConfig:
        names = [lst.name for lst in self.lists]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _FixableError(
                    f"lists[{i}].name {name!r} is used twice; fix: give every list a unique name"
                )
        for i, lst in enumerate(self.lists):
            heading = lst.lead_score_heading
            score_column = lst.fields[heading] if heading else None
            if score_column is not None and score_column != self.scores.salesforce_field:
                raise _FixableError(
                    f"lists[{i}].fields.{heading} = {score_column!r} but scores.salesforce_field is "
                    f"{self.scores.salesforce_field!r}; fix: map {heading} to {self.scores.salesforce_field}"
                )
        for key, name in self.sales_prospects.assigned_lists().items():
            if name is not None and name not in names:
                raise _FixableError(
                    f"sales_prospects.{key} names {name!r}, which is not in lists; "
                    f"fix: use one of {', '.join(map(repr, names))} or null"
                )
        return self

    def list_named(self, name: str) -> ListConfig:
        return next(lst for lst in self.lists if lst.name == name)

    def configured_salesforce_fields(self) -> dict[str, list[str]]:
        """Salesforce fields (API names) per raw table that the configuration reads, beyond the standard ones."""
        wanted: dict[str, set[str]] = {
            t: set() for t in ("lead", "contact", "account", "user", "opportunity")
        }
        person_fields = {self.scores.salesforce_field, *self.sales_prospects.written_fields()}
        wanted["lead"] |= person_fields
        wanted["contact"] |= person_fields
        for lst in self.lists:
            for path in lst.fields.values():
                lookup, _, field = path.rpartition(".")
                wanted[LOOKUPS[lst.object][lookup] if lookup else lst.object.lower()].add(field)
        wanted["opportunity"] |= set(self.report_mapping.opportunity_fields().values())
        wanted["campaign"] = {f for fields in self.report_mapping.campaign_fields().values() for f in fields}
        return {table: sorted(fields) for table, fields in wanted.items()}

    def to_dbt_vars(self) -> dict[str, Any]:
        """The vars the dbt project reads (dbt_project.yml holds the same values for the default config)."""
        return {
            "acton_lists": [
                {
                    "name": lst.name,
                    "object": lst.object,
                    "direction": lst.direction,
                    "fields": dict(lst.fields),
                    "lead_score_heading": lst.lead_score_heading,
                }
                for lst in self.lists
            ],
            "optout_direction": self.optouts.direction,
            "score_source": self.scores.source,
            "salesforce_score_field": self.scores.salesforce_field,
            "sales_prospect_lists": self.sales_prospects.assigned_lists(),
            "high_intent_field": self.sales_prospects.high_intent_field,
            "last_engagement_field": self.sales_prospects.last_engagement_field,
            "report_mapping": self.report_mapping.opportunity_fields(),
            "campaign_cost_fields": list(self.report_mapping.campaign_cost),
            "campaign_cost_fallback_fields": list(self.report_mapping.campaign_cost_fallback),
            "funnel_period": self.funnel.period,
            "funnel_stages": self.funnel.stages_on(),
            "engagement_events": list(self.funnel.engagement_events),
            "mql_score": self.funnel.mql_score,
            "sql_lead_statuses": list(self.funnel.sql_lead_statuses),
            "engagement_window_days": self.funnel.engagement_window_days,
            "high_intent_score": self.funnel.high_intent_score,
            "salesforce_configured_fields": self.configured_salesforce_fields(),
        }


# --- loading --------------------------------------------------------------------------------------------

_FIXES = {
    "extra_forbidden": "remove it or correct its spelling",
    "missing": "add it",
    "literal_error": "use one of the allowed values",
    "string_type": "write a text value (quote it if YAML reads it as something else)",
    "int_type": "write a whole number",
    "float_type": "write a number",
    "bool_type": "write true or false",
    "list_type": "write a YAML list",
    "too_short": "name at least one",
    "dict_type": "write a mapping of key: value",
    "model_type": "write a mapping of key: value",
}


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: Any) -> str:
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _FixableError):
        # Validators that know the key path name it themselves; field validators get it from loc.
        return str(ctx_error)
    fix = _FIXES.get(error["type"], "correct the value")
    return f"{error['msg'].removeprefix('Value error, ')}; fix: {fix}"


def _error_location(error: Any) -> str:
    loc = tuple(error["loc"])
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _FixableError) and not loc:
        return ""
    return _key_path(loc) + ": "


def config_path(path: str | Path | None = None) -> Path:
    """The configuration file: the argument, else $SYNC_CONFIG, else ./sync.yaml."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def parse_sync_config(data: Any, source: str = "sync.yaml") -> SyncConfig:
    """Validate already-parsed YAML; every problem is reported at once, each with its key path and fix."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SyncConfigError(f"{source}: the file must hold a mapping of sections (lists:, optouts:, ...)")
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  {_error_location(e)}{_describe(e)}" for e in exc.errors())
        raise SyncConfigError(f"{source}: invalid sync configuration:\n{problems}") from None


def _refuse_duplicate_keys(node: yaml.Node | None, file: Path, path: str = "") -> None:
    """YAML keeps the last of two equal keys in a mapping without a word: a list heading mapped twice would
    silently lose its first field. Raises SyncConfigError naming the key path and both lines."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, file, f"{path}[{i}]")
    elif isinstance(node, yaml.MappingNode):
        lines: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            here = f"{path}.{name}" if path else name
            line = key.start_mark.line + 1
            if name in lines:
                raise SyncConfigError(
                    f"{file}: line {line}: {here} is given twice (first on line {lines[name]}); YAML would keep "
                    "only the last; fix: remove one of them"
                )
            lines[name] = line
            _refuse_duplicate_keys(value, file, here)


def load_sync_config(path: str | Path | None = None) -> SyncConfig:
    """Read and validate the sync configuration; raises SyncConfigError before anything runs."""
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SyncConfigError(
            f"{file}: no such file; fix: create it (copy sync.yaml from the repository root) "
            f"or point ${ENV_VAR} at it"
        ) from None
    try:
        _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), file)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SyncConfigError(f"{file}:{where} is not valid YAML; fix: {exc}") from None
    return parse_sync_config(data, str(file))
