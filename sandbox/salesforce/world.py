"""The synthetic Salesforce org the sandbox serves: ``generate`` builds it, ``simulate_hour`` moves it forward
an hour (``sandbox.world`` runs it and the Act-On side on one world clock).

Every random choice comes from ``random.Random`` seeded from the world seed (and, in ``simulate_hour``, the hour
index), and every business timestamp (CreatedDate, CloseDate, ConvertedDate, ...) from the world clock
(meta ``world_clock``). Two stores given the same calls therefore hold the same rows, apart from the
wall-clock audit stamps (SystemModstamp, LastModifiedDate). Generated rows carry stamps spread over the
``AUDIT_SPREAD_DAYS`` before generation (drawn from the seed, measured back from the wall clock), as the
records of a real org were last modified at many past times; every later write (API, a simulated hour) stamps
the wall clock.

The org carries the mess real data has: missing, invalid, duplicate, mixed-case and padded emails, the same
person as a Lead and a Contact (converted or not, with differing opt-outs), unicode, quotes, commas and
newlines in names, titles and companies, nulls in optional fields.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.names import DOMAINS, FIRST_NAMES, LAST_NAMES
from sandbox.salesforce.schema import INDUSTRIES, LEAD_SOURCES, STAGES
from sandbox.store import Store, parse_sf_datetime, salesforce_id, wall_clock

WORLD_START = "2026-01-01T00:00:00.000+0000"
HISTORY_DAYS = 730
CHUNK_ROWS = 50_000
AUDIT_SPREAD_DAYS = 30
DEFAULT_CHURN = 0.001  # share of Leads + Contacts touched per simulated hour
DEFAULT_API_USERNAME = "integration@sandbox.example.com"

_DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# -- vocabulary ----------------------------------------------------------------------------------------
EMOJI = ("🚀", "😀", "🌟", "🎉")
TITLES = (
    "CEO", "CTO", "CFO", "VP Sales", "VP Marketing", "Marketing Manager", "Sales Representative",
    "Software Engineer", "Data Analyst", "Office Manager", "Consultant", "Director of IT", "Buyer",
    "Head of Operations", "Product Manager", "Directeur général", "Geschäftsführer", "营销经理",
)  # fmt: skip
MESSY_TITLES = (
    "VP, Sales & Marketing",
    'Head of "Growth"',
    "Procurement\nLead",
    "Chief Happiness Officer 😀",
    "Director, IT\r\nOperations",
    "  Account Executive  ",
)
COMPANY_WORDS = (
    "Blue", "Northern", "Global", "Acme", "Zürich", "Société", "Nordic", "Quantum", "Pacific", "Summit",
    "Iron", "Bright", "東京", "Crescent", "Evergreen", "Atlas", "Pioneer", "Sterling", "Vertex", "Harbor",
)  # fmt: skip
COMPANY_NOUNS = (
    "Systems", "Dynamics", "Labs", "Logistics", "Analytics", "Foods", "Energy", "Media", "Health",
    "Software", "Partners", "Robotics", "Capital", "Textiles", "Brewing", "Consulting",
)  # fmt: skip
COMPANY_SUFFIXES = ("", " Inc.", ", Inc.", " GmbH", " Ltd", ", LLC", " S.A.", " AG", " & Co.", " Group")
MESSY_COMPANIES = (
    "O'Reilly Media",
    'The "Best" Company',
    "Smith & Sons\nLogistics",
    "Café Müller, GmbH",
    "北京科技有限公司",
    "Rocket 🚀 Labs",
    'Comma, "Quote" and\nNewline Ltd',
    "  Padded Name Corp ",
)
CAMPAIGN_TOPICS = (
    "Spring Launch", "Data Summit", "Product Webinar", "Customer Newsletter", "Trade Show", "Partner Day",
    "ROI Calculator", "Holiday Promo", "Café & Code", "AI, Data & You", 'The "Big" Event', "Nurture\nTrack",
)  # fmt: skip
CAMPAIGN_TYPES = ("Email", "Webinar", "Conference", "Advertisement", "Direct Mail", "Other")
INVALID_EMAILS = ("not-an-email", "a@b", "x@@y.com", "jane.doe at example.com", "@example.com", "user@")
BOUNCE_REASONS = ("550 5.1.1 User unknown", "552 Mailbox full", "554 5.7.1 Message rejected")
CONTACT_ROLES = ("Decision Maker", "Economic Buyer", "Evaluator", "Influencer", "Other")
OPEN_STAGES = STAGES[:5]
# probability (%) and forecast category Salesforce's default sales process gives each stage
STAGE_INFO = {
    "Prospecting": (10, "Pipeline"),
    "Qualification": (20, "Pipeline"),
    "Needs Analysis": (40, "Pipeline"),
    "Proposal/Price Quote": (70, "BestCase"),
    "Negotiation/Review": (90, "Commit"),
    "Closed Won": (100, "Closed"),
    "Closed Lost": (0, "Omitted"),
}


def _slug(name: str) -> str:
    """The ASCII part of a name, as mail systems end up using it; names with none fall back to 'contact'."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in ascii_ if ch.isalnum()) or "contact"


_SLUGS = {name: _slug(name) for name in FIRST_NAMES + LAST_NAMES}


# -- time (epoch seconds ↔ store text; a cache of day prefixes keeps millions of stamps cheap) ---------
@functools.cache
def _day_text(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


def _dt(sec: int) -> str:
    day, rest = divmod(sec, _DAY)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{_day_text(day)}T{hour:02d}:{minute:02d}:{second:02d}.000+0000"


def _date(sec: int) -> str:
    return _day_text(sec // _DAY)


def _epoch(text: str) -> int:
    return int(parse_sf_datetime(text).timestamp())


def _fiscal(close_date: str) -> tuple[int, int]:
    return int(close_date[:4]), (int(close_date[5:7]) - 1) // 3 + 1


# -- messy values ----------------------------------------------------------------------------------------
def _pick(r: random.Random, values: Sequence[Any]) -> Any:
    return values[int(r.random() * len(values))]


def _messy_email(r: random.Random, clean: str) -> str | None:
    x = r.random()
    if x < 0.04:
        return None
    if x < 0.05:
        return _pick(r, INVALID_EMAILS)
    if x < 0.07:
        return clean.title()
    if x < 0.08:
        return clean.upper()
    if x < 0.095:
        return f" {clean} " if x < 0.09 else f"{clean}\t"
    return clean


def _case_variant(r: random.Random, email: str | None) -> str | None:
    """The same address as another system or a sales rep typed it again."""
    if email is None or r.random() < 0.6:
        return email
    return email.title() if r.random() < 0.5 else f" {email.upper()}"


def _person(r: random.Random, tag: int | str) -> tuple[str | None, str, str | None]:
    """(FirstName, LastName, Email); ``tag`` makes the clean address unique."""
    first = _pick(r, FIRST_NAMES)
    last = _pick(r, LAST_NAMES)
    email = _messy_email(r, f"{_SLUGS[first]}.{_SLUGS[last]}{tag}@{_pick(r, DOMAINS)}")
    x = r.random()
    if x < 0.04:
        return None, last, email
    if x < 0.043:
        return f"{first} {_pick(r, EMOJI)}", last, email
    return first, last, email


def _title(r: random.Random) -> str | None:
    x = r.random()
    if x < 0.15:
        return None
    if x < 0.18:
        return _pick(r, MESSY_TITLES)
    return _pick(r, TITLES)


def _company(r: random.Random) -> str:
    if r.random() < 0.02:
        return _pick(r, MESSY_COMPANIES)
    return f"{_pick(r, COMPANY_WORDS)} {_pick(r, COMPANY_NOUNS)}{_pick(r, COMPANY_SUFFIXES)}"


def _maybe(r: random.Random, p_null: float, values: Sequence[Any]) -> Any:
    return None if r.random() < p_null else _pick(r, values)


def _money(r: random.Random, mu: float, sigma: float) -> float:
    return round(r.lognormvariate(mu, sigma), 2)


def _stale_score(r: random.Random) -> float | None:
    """A few records carry a score copied long ago; the rest have never been scored."""
    return float(int(r.random() * 100)) if r.random() < 0.02 else None


def _bounce(r: random.Random, when: int) -> tuple[str | None, str | None]:
    if r.random() < 0.01:
        return _pick(r, BOUNCE_REASONS), _dt(when)
    return None, None


STAGE_COLUMNS = ("StageName", "Probability", "ForecastCategory", "ExpectedRevenue", "IsClosed", "IsWon")


def _stage_values(stage: str, amount: float | None) -> tuple:
    """The Opportunity fields that follow from its stage, in ``STAGE_COLUMNS`` order."""
    probability, forecast = STAGE_INFO[stage]
    expected = None if amount is None else round(amount * probability / 100, 2)
    closed = stage.startswith("Closed")
    return stage, float(probability), forecast, expected, int(closed), int(stage == "Closed Won")


def _stage_fields(stage: str, amount: float | None) -> dict[str, Any]:
    return dict(zip(STAGE_COLUMNS, _stage_values(stage, amount), strict=True))


# -- bulk writing ------------------------------------------------------------------------------------------
class _LoadStamps:
    """SystemModstamp/LastModifiedDate of generated rows: spread evenly over the ``AUDIT_SPREAD_DAYS`` before the
    day of ``loaded_at`` (midnight UTC), so an incremental read's lookback window holds a few generated rows, not
    all of them, and two worlds of one seed generated on the same day carry the same stamps (tests compare such
    worlds, and models date stages from LastModifiedDate). Never before the row's CreatedDate (a record is not
    modified before it exists). Each object draws from a ``random.Random`` of its own, so the stamps leave the
    business data unchanged."""

    def __init__(self, r: random.Random, loaded_at: int):
        self.r, self.day, self.latest = r, loaded_at - loaded_at % _DAY, _dt(loaded_at)

    def __call__(self, created: str) -> str:
        stamp = _dt(self.day - int(self.r.random() * AUDIT_SPREAD_DAYS * _DAY))
        return min(max(stamp, created), self.latest)


class _BulkWriter:
    """Buffers one object's rows and writes them with executemany, ``CHUNK_ROWS`` per transaction.

    Rows hold the business columns, CreatedDate among them; Id comes from ``ids`` (reserved up front because
    other objects refer to them) or is reserved per chunk, and the audit columns are filled with the loading
    user and ``stamps``.
    """

    def __init__(
        self,
        store: Store,
        obj: str,
        columns: Sequence[str],
        user_id: str,
        stamps: _LoadStamps,
        ids: list[str] | None = None,
    ):
        self.created = list(columns).index("CreatedDate")
        self.stamps = stamps
        names = {f.name for f in store.fields(obj)}
        self.audit_columns = [c for c in ("LastModifiedDate", "SystemModstamp") if c in names]
        self.user_columns = [c for c in ("CreatedById", "LastModifiedById") if c in names]
        cols = ["Id", *columns, *self.user_columns, *self.audit_columns]
        quoted = ", ".join(f'"{c}"' for c in cols)
        self.sql = f'INSERT INTO "{obj}" ({quoted}) VALUES ({", ".join("?" * len(cols))})'
        self.store, self.obj, self.user_id, self.ids = store, obj, user_id, ids
        self.rows: list[tuple] = []
        self.written = 0

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        n = len(self.rows)
        ids = (
            self.store.new_ids(self.obj, n) if self.ids is None else self.ids[self.written : self.written + n]
        )
        users, audits = (self.user_id,) * len(self.user_columns), len(self.audit_columns)
        with self.store.transaction() as c:
            c.executemany(
                self.sql,
                (
                    (i, *row, *users, *(self.stamps(row[self.created]),) * audits)
                    for i, row in zip(ids, self.rows, strict=True)
                ),
            )
        self.written += n
        self.rows = []


# A person's fields, the same on a Lead and a Contact (a converted Lead carries its Contact's).
PERSON_COLUMNS = ("FirstName", "LastName", "Email", "Title", "LeadSource", "OwnerId", "HasOptedOutOfEmail")
LEAD_COLUMNS = (
    *PERSON_COLUMNS, "EmailBouncedReason", "EmailBouncedDate", "Company", "Status", "Industry", "AnnualRevenue",
    "IsConverted", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId", "ConvertedDate",
    "ActOn_Lead_Score__c", "ActOn_High_Intent__c", "IsDeleted", "CreatedDate",
)  # fmt: skip
CONTACT_COLUMNS = (
    "AccountId", *PERSON_COLUMNS, "EmailBouncedReason", "EmailBouncedDate", "ActOn_Lead_Score__c",
    "ActOn_High_Intent__c", "IsDeleted", "CreatedDate",
)  # fmt: skip
ACCOUNT_COLUMNS = (
    "Name", "Type", "Industry", "AnnualRevenue", "NumberOfEmployees", "Website", "OwnerId", "ParentId",
    "IsDeleted", "CreatedDate",
)  # fmt: skip
CAMPAIGN_COLUMNS = (
    "Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "ParentId", "OwnerId", "BudgetedCost",
    "ActualCost", "ExpectedRevenue", "IsDeleted", "CreatedDate",
)  # fmt: skip
OPPORTUNITY_COLUMNS = (
    "Name", "AccountId", "OwnerId", "ContactId", "CampaignId", "Type", "LeadSource", "Amount", "CloseDate",
    "FiscalYear", "FiscalQuarter", *STAGE_COLUMNS, "IsDeleted", "CreatedDate",
)  # fmt: skip
OCR_COLUMNS = ("OpportunityId", "ContactId", "Role", "IsPrimary", "IsDeleted", "CreatedDate")
HISTORY_COLUMNS = (
    "OpportunityId", "StageName", "Amount", "CloseDate", "Probability", "ForecastCategory", "IsDeleted",
    "CreatedDate",
)  # fmt: skip
MEMBER_COLUMNS = (
    "CampaignId", "LeadId", "ContactId", "LeadOrContactId", "Status", "HasResponded", "FirstRespondedDate",
    "Email", "IsDeleted", "CreatedDate",
)  # fmt: skip
_LEAD_EMAIL, _LEAD_DELETED = LEAD_COLUMNS.index("Email"), LEAD_COLUMNS.index("IsDeleted")


# -- generation ----------------------------------------------------------------------------------------------
def generate(store: Store, scale: int, seed: int) -> None:
    """Build the org for ``scale`` Leads (other objects in proportion) and start the world clock."""
    store.set_meta("world_seed", seed)
    store.set_meta("world_scale", scale)
    store.set_meta("world_hours", 0)
    store.set_meta("world_clock", WORLD_START)
    _OrgBuilder(store, scale, seed).build()


class _OrgBuilder:
    """Builds the objects in a fixed order; ids are sequential per object, so the order is the determinism."""

    def __init__(self, store: Store, scale: int, seed: int):
        self.store, self.seed, self.r = store, seed, random.Random(f"{seed}-salesforce")
        self.loaded_at = _epoch(wall_clock())
        self.clock = _epoch(WORLD_START)
        self.start = self.clock - HISTORY_DAYS * _DAY
        self.n_leads = max(1, scale)
        self.n_accounts = max(1, round(scale * 0.15))
        self.n_contacts = max(self.n_accounts, round(scale * 0.6))
        self.n_opportunities = round(scale * 0.1)
        self.n_campaigns = max(5, scale // 2000)
        self.n_users = max(5, scale // 5000)
        self.n_converted = min(self.n_contacts, round(scale * 0.06))

    def build(self) -> None:
        self.organization_and_users()
        self.account_ids = self.store.new_ids("Account", self.n_accounts)
        self.campaign_ids = self.store.new_ids("Campaign", self.n_campaigns)
        self.contact_ids = self.store.new_ids("Contact", self.n_contacts)
        self.opportunity_ids = self.store.new_ids("Opportunity", self.n_opportunities)
        self.lead_ids = self.store.new_ids("Lead", self.n_leads)
        self.members = self.writer("CampaignMember", MEMBER_COLUMNS)
        self.accounts()
        self.campaigns()
        self.plan_conversions()
        self.contacts()
        self.opportunities()
        self.leads()
        self.members.flush()
        self.campaign_rollups()
        with self.store.lock:
            # simulate looks up a person's memberships; without this every look-up scans the table
            self.store.conn.execute(
                'CREATE INDEX IF NOT EXISTS "ix_CampaignMember_person" ON "CampaignMember" ("LeadOrContactId")'
            )

    def when(self, after: int) -> int:
        """A moment between ``after`` and the world clock, recent moments likelier (the org grew)."""
        return after + int((self.clock - after) * self.r.random() ** 0.7)

    # -- users ------------------------------------------------------------------------------------------
    def organization_and_users(self) -> None:
        r, created = self.r, _dt(self.start - 30 * _DAY)
        rows = []
        for i in range(self.n_users):
            first, last = _pick(r, FIRST_NAMES), _pick(r, LAST_NAMES)
            username = f"{_SLUGS[first]}.{_SLUGS[last]}{i}@sandbox.example.com"
            rows.append(
                {
                    "Username": username,
                    "Email": username,
                    "FirstName": first,
                    "LastName": last,
                    "Name": f"{first} {last}",
                    "IsActive": int(i == 0 or r.random() > 0.1),
                    "CreatedDate": created,
                }
            )
        user_ids = self.store.insert("User", rows)
        self.admin = user_ids[0]
        self.store.set_meta(
            "admin_user_id", self.admin
        )  # the org's administrator (sandbox/salesforce/access.py)
        with self.store.transaction() as c:
            c.execute('UPDATE "User" SET "CreatedById" = ?, "LastModifiedById" = ?', (self.admin, self.admin))
            c.execute('UPDATE "User" SET "ManagerId" = ? WHERE "Id" != ?', (self.admin, self.admin))
        self.owners = [uid for uid, row in zip(user_ids, rows, strict=True) if row["IsActive"]]
        credentials = self.store.get_meta("salesforce_credentials") or {}
        username = credentials.get("username") or DEFAULT_API_USERNAME
        (api_user,) = self.store.insert(
            "User",
            [
                {
                    "Username": username,
                    "Email": username,
                    "FirstName": "Integration",
                    "LastName": "User",
                    "Name": "Integration User",
                    "IsActive": 1,
                    "ManagerId": self.admin,
                    "CreatedDate": created,
                }
            ],
            user_id=self.admin,
        )
        self.store.set_meta("api_user_id", api_user)
        self.store.insert(
            "Organization",
            [
                {
                    "Name": "Sandbox Org",
                    "IsSandbox": 1,
                    "OrganizationType": "Enterprise Edition",
                    "InstanceName": "SBX1",
                    "CreatedDate": created,
                }
            ],
            user_id=self.admin,
        )

    def writer(self, obj: str, columns: Sequence[str], ids: list[str] | None = None) -> _BulkWriter:
        stamps = _LoadStamps(random.Random(f"{self.seed}-{obj}-modstamps"), self.loaded_at)
        return _BulkWriter(self.store, obj, columns, self.admin, stamps, ids)

    def owner(self) -> str:
        return _pick(self.r, self.owners)

    # -- accounts and campaigns -------------------------------------------------------------------------
    def accounts(self) -> None:
        r = self.r
        out = self.writer("Account", ACCOUNT_COLUMNS, self.account_ids)
        self.account_names: list[str] = []
        self.account_owners: list[str] = []
        self.account_created = array("q")
        for i in range(self.n_accounts):
            name, owner, created = _company(r), self.owner(), self.when(self.start)
            parent = self.account_ids[int(i * r.random())] if i and r.random() < 0.03 else None
            website = None if r.random() < 0.3 else f"https://www.{_slug(name)}.example"
            out.add(
                (
                    name,
                    _maybe(
                        r, 0.2, ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")
                    ),
                    _maybe(r, 0.2, INDUSTRIES),
                    None if r.random() < 0.4 else _money(r, 15, 1.5),
                    None if r.random() < 0.4 else int(r.lognormvariate(4, 1.5)) + 1,
                    website,
                    owner,
                    parent,
                    0,
                    _dt(created),
                )
            )
            self.account_names.append(name)
            self.account_owners.append(owner)
            self.account_created.append(created)
        out.flush()

    def campaigns(self) -> None:
        r = self.r
        out = self.writer("Campaign", CAMPAIGN_COLUMNS, self.campaign_ids)
        self.campaign_start = array("q")
        self.started: list[int] = []  # campaigns people can be members of: started by the world clock
        for i in range(self.n_campaigns):
            # campaign 0 has always started, so every org has somewhere to put members
            planned = i > 0 and r.random() < 0.1
            begin = self.clock + int(r.random() * 60) * _DAY if planned else self.when(self.start)
            end = begin + (7 + int(r.random() * 90)) * _DAY
            if planned:
                status = "Planned"
            elif end < self.clock:
                status = "Aborted" if r.random() < 0.05 else "Completed"
            else:
                status = "In Progress"
            kind = _pick(r, CAMPAIGN_TYPES)
            budget = self.cost(r)
            actual = self.cost(r) if budget is None or r.random() < 0.5 else budget
            # every org has campaigns whose ROI cannot be computed: no cost at all, a cost of 0
            if i == 1:
                budget = actual = None
            elif i == 2:
                actual = 0.0
            out.add(
                (
                    f"{_date(begin)[:7]} {_pick(r, CAMPAIGN_TOPICS)} {kind}",
                    kind,
                    status,
                    _date(begin),
                    _date(end),
                    int(status in ("Planned", "In Progress")),
                    self.campaign_ids[int(i * r.random())] if i and r.random() < 0.2 else None,
                    self.owner(),
                    budget,
                    actual,
                    None if r.random() < 0.5 else _money(r, 11, 1),
                    0,
                    _dt(min(begin, self.clock) - (1 + int(r.random() * 30)) * _DAY),
                )
            )
            self.campaign_start.append(begin)
            if not planned:
                self.started.append(i)
        out.flush()
        self.members_by_campaign = {"Lead": [0] * self.n_campaigns, "Contact": [0] * self.n_campaigns}
        self.opportunities_by_campaign = [0] * self.n_campaigns
        self.won_by_campaign = [0] * self.n_campaigns

    @staticmethod
    def cost(r: random.Random) -> float | None:
        x = r.random()
        if x < 0.2:
            return None
        if x < 0.3:
            return 0.0
        return _money(r, 9, 1)

    def join_campaigns(
        self, kind: str, person_id: str, email: str | None, joined_after: int, rate: float
    ) -> None:
        """Memberships of one person: about ``rate`` campaigns each, never the same campaign twice."""
        r = self.r
        x, n = r.random(), 0
        while x < rate and n < 3:
            n += 1
            x = r.random() * (1 + n)
        n = min(n, len(self.started))
        for k in r.sample(self.started, n):
            created = self.when(max(joined_after, self.campaign_start[k]))
            responded = r.random() < 0.3
            first_response = (
                _date(min(self.clock, created + int(r.random() * 5 * _DAY))) if responded else None
            )
            self.members.add(
                (
                    self.campaign_ids[k],
                    person_id if kind == "Lead" else None,
                    person_id if kind == "Contact" else None,
                    person_id,
                    "Responded" if responded else "Sent",
                    int(responded),
                    first_response,
                    email,
                    0,
                    _dt(created),
                )
            )
            self.members_by_campaign[kind][k] += 1

    # -- people -----------------------------------------------------------------------------------------
    def plan_conversions(self) -> None:
        """Which Leads were converted into which Contacts: a converted Lead and its Contact are one person."""
        contacts = self.r.sample(range(self.n_contacts), self.n_converted)
        leads = sorted(self.r.sample(range(self.n_leads), self.n_converted))
        self.lead_to_contact = dict(zip(leads, contacts, strict=True))
        self.converted_contacts = set(contacts)
        self.converted_lead_of: dict[int, tuple] = {}  # contact index -> what its Lead copies
        self.conversion_opportunity: dict[int, int] = {}  # contact index -> opportunity created with it

    def contacts(self) -> None:
        r, n_accounts = self.r, self.n_accounts
        out = self.writer("Contact", CONTACT_COLUMNS, self.contact_ids)
        # every account gets a contact; the rest gather at the bigger (lower-numbered) accounts
        account_of = list(range(n_accounts))
        account_of += [int(n_accounts * r.random() ** 2) for _ in range(self.n_contacts - n_accounts)]
        r.shuffle(account_of)
        self.account_of = account_of
        self.account_contacts: list[list[int]] = [[] for _ in range(n_accounts)]  # live ones
        self.contact_created = array("q")
        self.contact_email: list[str | None] = []
        self.contact_name: list[tuple[str | None, str]] = []
        self.contact_opted_out = bytearray(self.n_contacts)
        for c, a in enumerate(account_of):
            converted = c in self.converted_contacts
            created = self.when(self.account_created[a])
            first, last, email = _person(r, c)
            owner = self.account_owners[a] if r.random() < 0.8 else self.owner()
            title, source = _title(r), _maybe(r, 0.1, LEAD_SOURCES)
            opted_out = int(r.random() < 0.05)
            # deleted contacts leave their account's live contacts (the ones opportunities involve); the
            # first stays, so every account keeps one
            deleted = int(not converted and bool(self.account_contacts[a]) and r.random() < 0.003)
            person = (first, last, email, title, source, owner, opted_out)
            out.add(
                (
                    self.account_ids[a],
                    *person,
                    *_bounce(r, created),
                    _stale_score(r),
                    0,
                    deleted,
                    _dt(created),
                )
            )
            if not deleted:
                self.account_contacts[a].append(c)
            self.contact_created.append(created)
            self.contact_email.append(email)
            self.contact_name.append((first, last))
            self.contact_opted_out[c] = opted_out
            if converted:
                self.converted_lead_of[c] = (*person, created)
            if not deleted:
                self.join_campaigns("Contact", self.contact_ids[c], email, created, 0.4)
        out.flush()

    def leads(self) -> None:
        out = self.writer("Lead", LEAD_COLUMNS, self.lead_ids)
        recent: list[tuple[str | None, str, str]] = []  # earlier leads a duplicate can copy
        for i in range(self.n_leads):
            c = self.lead_to_contact.get(i)
            if c is not None:
                row, created = self.converted_lead(c)
            else:
                row, created = self.open_lead(i, recent)
            out.add(row)
            if not row[_LEAD_DELETED]:
                self.join_campaigns("Lead", self.lead_ids[i], row[_LEAD_EMAIL], created, 0.55)
        out.flush()

    def converted_lead(self, c: int) -> tuple[tuple, int]:
        r = self.r
        *person, converted = self.converted_lead_of[c]
        created = max(self.start - 90 * _DAY, converted - int(r.random() * 120 * _DAY))
        opportunity = self.conversion_opportunity.get(c)
        a = self.account_of[c]
        row = (
            *person,
            None,
            None,
            self.account_names[a],
            "Closed - Converted",
            _maybe(r, 0.3, INDUSTRIES),
            None,
            1,
            self.account_ids[a],
            self.contact_ids[c],
            None if opportunity is None else self.opportunity_ids[opportunity],
            _date(converted),
            _stale_score(r),
            0,
            0,
            _dt(created),
        )
        return row, created

    def open_lead(self, i: int, recent: list[tuple[str | None, str, str]]) -> tuple[tuple, int]:
        r = self.r
        created = self.when(self.start)
        x = r.random()
        opted_out = int(r.random() < 0.04)
        if x < 0.02:
            # the same person already a Contact, entered again as a Lead, consent recorded separately
            c = int(self.n_contacts * r.random())
            (first, last), email = self.contact_name[c], _case_variant(r, self.contact_email[c])
            if r.random() < 0.5:
                opted_out = 1 - self.contact_opted_out[c]
        elif x < 0.05 and recent:
            first, last, email = _pick(r, recent)
            email = _case_variant(r, email)
        else:
            first, last, email = _person(r, self.n_contacts + i)
            if email is not None:
                if len(recent) < 4096:
                    recent.append((first, last, email))
                else:
                    recent[i % 4096] = (first, last, email)
        status = r.random()
        person = (first, last, email, _title(r), _maybe(r, 0.1, LEAD_SOURCES), self.owner(), opted_out)
        row = (
            *person,
            *_bounce(r, created),
            _company(r),
            "Open - Not Contacted"
            if status < 0.45
            else "Working - Contacted"
            if status < 0.75
            else "Closed - Not Converted",
            _maybe(r, 0.3, INDUSTRIES),
            None if r.random() < 0.5 else _money(r, 14, 1.5),
            0,
            None,
            None,
            None,
            None,
            _stale_score(r),
            0,
            int(r.random() < 0.005),
            _dt(created),
        )
        return row, created

    # -- pipeline ---------------------------------------------------------------------------------------
    def opportunities(self) -> None:
        r = self.r
        out = self.writer("Opportunity", OPPORTUNITY_COLUMNS, self.opportunity_ids)
        roles = self.writer("OpportunityContactRole", OCR_COLUMNS)
        history = self.writer("OpportunityHistory", HISTORY_COLUMNS)
        for o in range(self.n_opportunities):
            a = int(self.n_accounts * r.random() ** 1.5)
            people = self.account_contacts[a]
            c = _pick(r, people)
            source = _maybe(r, 0.15, LEAD_SOURCES)
            if c in self.converted_lead_of and c not in self.conversion_opportunity and r.random() < 0.7:
                created = self.contact_created[c]  # created by the conversion itself
                self.conversion_opportunity[c] = o
                source = self.converted_lead_of[c][4]
            else:
                created = self.when(self.contact_created[c])
            stage, close = self.final_stage(created)
            amount = None if r.random() < 0.03 else _money(r, 9.6, 0.9)
            campaign = None
            if r.random() < 0.6:
                k = _pick(r, self.started)
                if self.campaign_start[k] <= created:
                    campaign = k
                    self.opportunities_by_campaign[k] += 1
                    self.won_by_campaign[k] += stage == "Closed Won"
            close_date = _date(close)
            out.add(
                (
                    f"{self.account_names[a]} - {_pick(r, ('Licenses', 'Renewal', 'Services', 'Expansion'))}",
                    self.account_ids[a],
                    self.account_owners[a],
                    self.contact_ids[c],
                    None if campaign is None else self.campaign_ids[campaign],
                    "New Business" if r.random() < 0.7 else "Existing Business",
                    source,
                    amount,
                    close_date,
                    *_fiscal(close_date),
                    *_stage_values(stage, amount),
                    0,
                    _dt(created),
                )
            )
            oid = self.opportunity_ids[o]
            others = [p for p in people if p != c]
            extra = min(len(others), 0 if r.random() < 0.6 else 1 if r.random() < 0.75 else 2)
            for i, p in enumerate([c, *r.sample(others, extra)]):
                roles.add((oid, self.contact_ids[p], _pick(r, CONTACT_ROLES), int(i == 0), 0, _dt(created)))
            self.stage_history(history, oid, stage, amount, close_date, created, close)
        for writer in (out, roles, history):
            writer.flush()

    def final_stage(self, created: int) -> tuple[str, int]:
        """Where an opportunity created at ``created`` stands now, and its close (or expected close) moment."""
        r = self.r
        age_days = (self.clock - created) / _DAY
        if r.random() < min(0.9, age_days / 240):
            stage = "Closed Won" if r.random() < 0.4 else "Closed Lost"
            return stage, created + int(min(self.clock - created, r.random() * 120 * _DAY))
        return _pick(r, OPEN_STAGES), self.clock + (1 + int(r.random() * 180)) * _DAY

    def stage_history(
        self,
        out: _BulkWriter,
        oid: str,
        stage: str,
        amount: float | None,
        close_date: str,
        created: int,
        close: int,
    ) -> None:
        """One OpportunityHistory row per stage the opportunity went through, skipping some as reps do."""
        r = self.r
        if stage in OPEN_STAGES:
            last_open, final = OPEN_STAGES.index(stage), []
        else:
            last_open, final = int(r.random() * 5), [stage]
        path = [
            OPEN_STAGES[s] for s in range(last_open + 1) if s in (0, last_open) or r.random() < 0.75
        ] + final
        end = min(close, self.clock)
        for n, step in enumerate(path):
            at = created + (end - created) * n // len(path)
            probability, forecast = STAGE_INFO[step]
            out.add((oid, step, amount, close_date, float(probability), forecast, 0, _dt(at)))

    def campaign_rollups(self) -> None:
        rows = [
            (
                self.members_by_campaign["Lead"][k],
                self.members_by_campaign["Contact"][k],
                self.opportunities_by_campaign[k],
                self.won_by_campaign[k],
                self.campaign_ids[k],
            )
            for k in range(self.n_campaigns)
        ]
        with self.store.transaction() as c:
            c.executemany(
                'UPDATE "Campaign" SET "NumberOfLeads" = ?, "NumberOfContacts" = ?, "NumberOfOpportunities" = ?, '
                '"NumberOfWonOpportunities" = ? WHERE "Id" = ?',
                rows,
            )


# -- simulation ----------------------------------------------------------------------------------------------
# share of an hour's touched records per kind of event (new leads, edits, conversions, deletes, ...)
EVENT_SHARES = (
    ("new_leads", 0.15),
    ("lead_edits", 0.30),
    ("contact_edits", 0.15),
    ("opt_outs", 0.05),
    ("conversions", 0.05),
    ("stage_changes", 0.10),
    ("lead_deletes", 0.03),
    ("member_adds", 0.10),
    ("member_responses", 0.05),
    ("member_deletes", 0.02),
)


def simulate_hour(
    store: Store, seed: int, hour_index: int, churn: float | None, counts: Counter[str]
) -> tuple[str, str]:
    """The hour of business from the world clock, counted into ``counts``; ``churn`` is the share of Leads +
    Contacts touched (default ``DEFAULT_CHURN``). Returns the hour's start and end; the caller moves the clock."""
    start = _epoch(store.get_meta("world_clock"))
    _SimulatedHour(store, random.Random(f"{seed}-sim-{hour_index}"), start, hour_index, counts).run(
        DEFAULT_CHURN if churn is None else churn
    )
    return _dt(start), _dt(start + 3600)


def _id_number(record_id: str) -> int:
    n = 0
    for ch in record_id[3:15]:
        n = n * 62 + _B62.index(ch)
    return n


def _alive(row: dict[str, Any]) -> bool:
    return not row.get("IsDeleted")


def _open_lead(row: dict[str, Any]) -> bool:
    return _alive(row) and not row.get("IsConverted")


class _SimulatedHour:
    """One hour of business: every write goes through the store as an API write would (wall-clock modstamps),
    business times march through the hour in event order."""

    def __init__(self, store: Store, r: random.Random, start: int, hour_index: int, counts: Counter[str]):
        self.store, self.r, self.start, self.hour_index, self.counts = store, r, start, hour_index, counts
        api_user = store.get_meta("api_user_id")
        with store.lock:
            self.users = [
                uid
                for (uid,) in store.conn.execute('SELECT "Id" FROM "User" WHERE "IsActive" = 1 ORDER BY "Id"')
                if uid != api_user
            ]
            self.campaigns = [
                cid
                for (cid,) in store.conn.execute(
                    'SELECT "Id" FROM "Campaign" WHERE "IsDeleted" = 0 AND "StartDate" <= ? ORDER BY "Id"',
                    (_date(start),),
                )
            ]
        self.done = 0
        self.total = 1

    def run(self, churn: float) -> None:
        people = self.last_number("Lead") + self.last_number("Contact")
        plan = []
        for kind, share in EVENT_SHARES:
            expected = churn * people * share
            plan.append((kind, int(expected) + (self.r.random() < expected - int(expected))))
        self.total = max(1, sum(n for _, n in plan))
        for kind, n in plan:
            event = getattr(self, kind)
            for _ in range(n):
                event()

    # -- helpers ----------------------------------------------------------------------------------------
    def tick(self) -> tuple[int, str]:
        """The business moment of the next event: events spread evenly through the hour, in order."""
        at = self.start + 3600 * self.done // self.total
        self.done += 1
        return at, _dt(at)

    def last_number(self, obj: str) -> int:
        with self.store.lock:
            (last,) = self.store.conn.execute(f'SELECT MAX("Id") FROM "{obj}"').fetchone()
        return 0 if last is None else _id_number(last)

    def pick(self, obj: str, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """A random existing record satisfying ``ok``: ids are sequential, so draw numbers, not rows."""
        last = self.last_number(obj)
        if last == 0:
            return None
        prefix = self.store.key_prefix(obj)
        for _ in range(12):
            row = self.store.get(obj, salesforce_id(prefix, self.r.randint(1, last)))
            if row is not None and ok(row):
                return row
        return None

    def present(self, obj: str, values: dict[str, Any]) -> dict[str, Any]:
        """Only the fields the object still has: a mutated schema must not stop the world."""
        names = {f.name for f in self.store.fields(obj)}
        return {k: v for k, v in values.items() if k in names}

    def insert(self, obj: str, values: dict[str, Any], user: str) -> str:
        (rid,) = self.store.insert(obj, [self.present(obj, values)], user_id=user)
        return rid

    def update(self, obj: str, rid: str, values: dict[str, Any]) -> None:
        self.store.update(obj, rid, self.present(obj, values))

    def user(self) -> str:
        return _pick(self.r, self.users)

    def bump(self, campaign_id: str | None, field: str, delta: int) -> None:
        """Keep the campaign's roll-up counts right; roll-ups do not move the campaign's modstamp."""
        if campaign_id is None or self.store.field("Campaign", field) is None:
            return
        with self.store.lock:
            self.store.conn.execute(
                f'UPDATE "Campaign" SET "{field}" = COALESCE("{field}", 0) + ? WHERE "Id" = ?',
                (delta, campaign_id),
            )

    def add_member(self, kind: str, person: dict[str, Any], campaign_id: str, created: str) -> None:
        self.insert(
            "CampaignMember",
            {
                "CampaignId": campaign_id,
                "LeadId": person["Id"] if kind == "Lead" else None,
                "ContactId": person["Id"] if kind == "Contact" else None,
                "LeadOrContactId": person["Id"],
                "Status": "Sent",
                "HasResponded": 0,
                "Email": person.get("Email"),
                "CreatedDate": created,
                "IsDeleted": 0,
            },
            person.get("OwnerId") or self.user(),
        )
        self.bump(campaign_id, "NumberOfLeads" if kind == "Lead" else "NumberOfContacts", 1)
        self.counts["campaign_members_created"] += 1

    def remove_member(self, member_id: str, kind: str, campaign_id: str | None) -> None:
        self.store.delete("CampaignMember", member_id)
        self.bump(campaign_id, "NumberOfLeads" if kind == "Lead" else "NumberOfContacts", -1)
        self.counts["campaign_members_deleted"] += 1

    # -- events -----------------------------------------------------------------------------------------
    def new_leads(self) -> None:
        r = self.r
        _, when = self.tick()
        tag = f"s{self.hour_index}n{self.done}"  # unique: one event per tick
        first, last, email = _person(r, tag)
        if r.random() < 0.2:
            # someone already known signs up again, often typing the address differently
            known = self.pick("Lead" if r.random() < 0.6 else "Contact", lambda row: bool(row.get("Email")))
            if known is not None:
                first, last = known.get("FirstName"), known["LastName"]
                email = _case_variant(r, known["Email"])
        owner = self.user()
        values = {
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "Title": _title(r),
            "Company": _company(r),
            "LeadSource": _maybe(r, 0.1, LEAD_SOURCES),
            "Industry": _maybe(r, 0.3, INDUSTRIES),
            "Status": "Open - Not Contacted",
            "OwnerId": owner,
            "HasOptedOutOfEmail": 0,
            "IsConverted": 0,
            "ActOn_High_Intent__c": 0,
            "CreatedDate": when,
        }
        rid = self.insert("Lead", values, owner)
        self.counts["leads_created"] += 1
        if self.campaigns and r.random() < 0.4:
            self.add_member("Lead", {**values, "Id": rid}, _pick(r, self.campaigns), when)

    def lead_edits(self) -> None:
        lead = self.pick("Lead", _open_lead)
        if lead is None:
            return
        self.tick()
        r, values = self.r, {"LastModifiedById": self.user()}
        if lead["Status"] == "Open - Not Contacted" and r.random() < 0.6:
            values["Status"] = "Working - Contacted"
        elif lead["Status"] == "Working - Contacted" and r.random() < 0.2:
            values["Status"] = "Closed - Not Converted"
        else:
            values["Title"] = _title(r)
        self.update("Lead", lead["Id"], values)
        self.counts["leads_updated"] += 1

    def contact_edits(self) -> None:
        contact = self.pick("Contact", _alive)
        if contact is None:
            return
        self.tick()
        r, values = self.r, {"LastModifiedById": self.user()}
        if r.random() < 0.1:
            values["Email"] = _person(r, f"s{self.hour_index}c{self.done}")[2]
            with self.store.lock:
                # a member's Email shows its person's; like a formula it does not move the member's modstamp
                self.store.conn.execute(
                    'UPDATE "CampaignMember" SET "Email" = ? WHERE "LeadOrContactId" = ?',
                    (values["Email"], contact["Id"]),
                )
        else:
            values["Title"] = _title(r)
        self.update("Contact", contact["Id"], values)
        self.counts["contacts_updated"] += 1

    def opt_outs(self) -> None:
        obj = "Lead" if self.r.random() < 0.6 else "Contact"
        person = self.pick(obj, lambda row: _alive(row) and not row.get("HasOptedOutOfEmail"))
        if person is None:
            return
        self.tick()
        self.update(obj, person["Id"], {"HasOptedOutOfEmail": 1, "LastModifiedById": self.user()})
        self.counts["opt_outs"] += 1

    def conversions(self) -> None:
        lead = self.pick("Lead", _open_lead)
        if lead is None:
            return
        r = self.r
        at, when = self.tick()
        owner = lead.get("OwnerId") or self.user()
        account = self.pick("Account", _alive) if r.random() < 0.5 else None
        if account is not None:
            account_id = account["Id"]
        else:
            account_id = self.insert(
                "Account",
                {
                    "Name": lead.get("Company") or lead["LastName"],
                    "Type": "Prospect",
                    "Industry": lead.get("Industry"),
                    "AnnualRevenue": lead.get("AnnualRevenue"),
                    "OwnerId": owner,
                    "CreatedDate": when,
                },
                owner,
            )
            self.counts["accounts_created"] += 1
        person = ("FirstName", "LastName", "Email", "Title", "LeadSource", "HasOptedOutOfEmail")
        person += ("EmailBouncedReason", "EmailBouncedDate", "ActOn_Lead_Score__c", "ActOn_High_Intent__c")
        contact_id = self.insert(
            "Contact",
            {
                **{k: lead.get(k) for k in person},
                "AccountId": account_id,
                "OwnerId": owner,
                "CreatedDate": when,
            },
            owner,
        )
        self.counts["contacts_created"] += 1
        opportunity_id = None
        if r.random() < 0.7:
            opportunity_id = self.new_opportunity(lead, account_id, contact_id, owner, at)
        self.update(
            "Lead",
            lead["Id"],
            {
                "IsConverted": 1,
                "Status": "Closed - Converted",
                "ConvertedAccountId": account_id,
                "ConvertedContactId": contact_id,
                "ConvertedOpportunityId": opportunity_id,
                "ConvertedDate": _date(at),
                "LastModifiedById": owner,
            },
        )
        self.counts["leads_converted"] += 1

    def new_opportunity(
        self, lead: dict[str, Any], account_id: str, contact_id: str, owner: str, at: int
    ) -> str:
        r, when = self.r, _dt(at)
        with self.store.lock:
            # the Primary Campaign Source is the campaign that touched the lead last
            latest = self.store.conn.execute(
                'SELECT "CampaignId" FROM "CampaignMember" WHERE "LeadOrContactId" = ? '
                'ORDER BY "CreatedDate" DESC, "Id" DESC LIMIT 1',
                (lead["Id"],),
            ).fetchone()
        campaign_id = latest[0] if latest else None
        amount = None if r.random() < 0.03 else _money(r, 9.6, 0.9)
        close_date = _date(at + (30 + int(r.random() * 90)) * _DAY)
        year, quarter = _fiscal(close_date)
        opportunity_id = self.insert(
            "Opportunity",
            {
                "Name": f"{lead.get('Company') or lead['LastName']} - New Business",
                "AccountId": account_id,
                "OwnerId": owner,
                "ContactId": contact_id,
                "CampaignId": campaign_id,
                "Type": "New Business",
                "LeadSource": lead.get("LeadSource"),
                "Amount": amount,
                "CloseDate": close_date,
                "FiscalYear": year,
                "FiscalQuarter": quarter,
                **_stage_fields("Prospecting", amount),
                "CreatedDate": when,
            },
            owner,
        )
        self.insert(
            "OpportunityContactRole",
            {
                "OpportunityId": opportunity_id,
                "ContactId": contact_id,
                "Role": "Decision Maker",
                "IsPrimary": 1,
                "CreatedDate": when,
            },
            owner,
        )
        self.record_stage(opportunity_id, "Prospecting", amount, close_date, when, owner)
        self.bump(campaign_id, "NumberOfOpportunities", 1)
        self.counts["opportunities_created"] += 1
        return opportunity_id

    def record_stage(
        self, opportunity_id: str, stage: str, amount: float | None, close_date: str, when: str, user: str
    ) -> None:
        probability, forecast = STAGE_INFO[stage]
        self.insert(
            "OpportunityHistory",
            {
                "OpportunityId": opportunity_id,
                "StageName": stage,
                "Amount": amount,
                "CloseDate": close_date,
                "Probability": float(probability),
                "ForecastCategory": forecast,
                "CreatedDate": when,
            },
            user,
        )

    def stage_changes(self) -> None:
        opportunity = self.pick("Opportunity", lambda row: _alive(row) and not row.get("IsClosed"))
        if opportunity is None:
            return
        r = self.r
        at, when = self.tick()
        step = OPEN_STAGES.index(opportunity["StageName"]) if opportunity["StageName"] in OPEN_STAGES else 0
        x = r.random()
        if x < 0.15:
            stage = "Closed Lost"
        elif x < 0.15 + 0.1 * step:
            stage = "Closed Won"
        else:
            stage = OPEN_STAGES[min(step + 1, len(OPEN_STAGES) - 1)]
        amount = opportunity.get("Amount")
        close_date = _date(at) if stage.startswith("Closed") else opportunity["CloseDate"]
        year, quarter = _fiscal(close_date)
        user = opportunity.get("OwnerId") or self.user()
        values = {**_stage_fields(stage, amount), "CloseDate": close_date, "FiscalYear": year}
        self.update(
            "Opportunity", opportunity["Id"], {**values, "FiscalQuarter": quarter, "LastModifiedById": user}
        )
        self.record_stage(opportunity["Id"], stage, amount, close_date, when, user)
        self.counts["opportunity_stage_changes"] += 1
        if stage == "Closed Won":
            self.counts["opportunities_won"] += 1
            self.bump(opportunity.get("CampaignId"), "NumberOfWonOpportunities", 1)
        elif stage == "Closed Lost":
            self.counts["opportunities_lost"] += 1

    def lead_deletes(self) -> None:
        lead = self.pick("Lead", _open_lead)
        if lead is None:
            return
        self.tick()
        with self.store.lock:
            # deleting a lead takes its campaign memberships with it
            members = self.store.conn.execute(
                'SELECT "Id", "CampaignId" FROM "CampaignMember" WHERE "LeadOrContactId" = ? ORDER BY "Id"',
                (lead["Id"],),
            ).fetchall()
        for member_id, campaign_id in members:
            self.remove_member(member_id, "Lead", campaign_id)
        self.store.delete("Lead", lead["Id"])
        self.counts["leads_deleted"] += 1

    def member_adds(self) -> None:
        if not self.campaigns:
            return
        kind = "Lead" if self.r.random() < 0.6 else "Contact"
        person = self.pick(kind, _open_lead if kind == "Lead" else _alive)
        if person is None:
            return
        campaign_id = _pick(self.r, self.campaigns)
        with self.store.lock:
            already = self.store.conn.execute(
                'SELECT 1 FROM "CampaignMember" WHERE "LeadOrContactId" = ? AND "CampaignId" = ?',
                (person["Id"], campaign_id),
            ).fetchone()
        if already:
            return
        self.add_member(kind, person, campaign_id, self.tick()[1])

    def member_responses(self) -> None:
        member = self.pick("CampaignMember", lambda row: not row.get("HasResponded"))
        if member is None:
            return
        at, _ = self.tick()
        values = {"Status": "Responded", "HasResponded": 1, "FirstRespondedDate": _date(at)}
        self.update("CampaignMember", member["Id"], values)
        self.counts["campaign_members_updated"] += 1

    def member_deletes(self) -> None:
        member = self.pick("CampaignMember", lambda row: True)
        if member is None:
            return
        self.tick()
        self.remove_member(
            member["Id"], "Lead" if member.get("LeadId") else "Contact", member.get("CampaignId")
        )
