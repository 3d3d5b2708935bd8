"""The Act-On side of the synthetic world, built from the Salesforce people and moved forward hour by hour.

``generate`` mirrors most Salesforce people as unified contacts (emails sometimes typed differently), adds
people known only to Act-On (form fills), sends six months of messages with opens, clicks, bounces, opt-outs
and spam complaints, adds site visits, form submits and webinars, opts out part of Salesforce's opted-out
people (and reverses some opt-outs with an opt-in), then scores everyone. ``simulate_hour`` adds one hour of
the same. Business times (activity, opt-outs, creation) come from the world clock; modification times
(``updated_at``, list stamps) are wall clock, as for the Salesforce side. Every choice comes from ``rng``.
No Salesforce list exists: creating the "SFDC Master" lists is the pipeline's job.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import time
import unicodedata
import uuid
from collections import Counter
from typing import Any

from sandbox.acton.consent import opt_in, opt_out
from sandbox.acton.score import DAY_MS, contacts_crossing_decay, rescore
from sandbox.acton.tables import ensure_tables
from sandbox.acton.values import from_ms, is_valid_email, list_id, message_id, normalise_email, to_ms
from sandbox.names import DOMAINS, FIRST_NAMES, LAST_NAMES
from sandbox.store import Store

HOUR_MS = 3_600_000
HISTORY_DAYS = 180
CHUNK = 100_000
IN_ACTON = 0.88  # share of Salesforce people who are also unified contacts
FORM_ONLY = 0.08  # people known only to Act-On, per Salesforce person
SF_OPTOUT_AGREES = 0.6  # share of Salesforce opt-outs also on Act-On's opt-out list
OPT_IN_LATER = 0.1  # share of Act-On opt-outs reversed by an opt-in
BOUNCE, OPT_OUT, SPAM = 0.01, 0.004, 0.001  # per delivered message / per open
MESSAGE_NAMES = (
    "Monthly Update", "Product Launch", "Webinar Invitation", "Customer Newsletter", "Event Reminder",
    "Case Study: Scaling Pipeline", "Spring Promotion", "Feature Roundup", "Survey: Tell Us More",
)  # fmt: skip
PAGES = ("/pricing", "/product", "/blog/funnel-metrics", "/customers", "/contact", "/docs/integrations")
FORMS = ("Contact Us", "Demo Request", "Whitepaper Download", "Newsletter Signup")
WEBINARS = ("Pipeline Analytics 101", "Attribution Without Tears", "Scoring That Sales Trusts")
WEBINAR_LIST = "Webinar Attendees 2025"
SENDER = ("Marketing Team", "marketing@sandbox.example.com")
API_ORIGIN = "Preference Center"


def _poisson(r: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(r.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, r.random()
    while p > limit:
        k += 1
        p *= r.random()
    return k


def _slug(text: str | None) -> str:
    ascii_ = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in ascii_ if ch.isalnum()) or "contact"


def _acton_email(r: random.Random, sf_email: str) -> str:
    """Act-On's copy of a Salesforce address: usually the same, sometimes cased or spaced differently."""
    clean, x = sf_email.strip(), r.random()
    if x < 0.06:
        return clean.lower() if clean != clean.lower() else clean.upper()
    if x < 0.09:
        return clean.title()
    if x < 0.11:
        return f"{clean} "
    return clean


def _contact_id(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


class _Sink:
    """Buffered executemany into one table, flushed every ``CHUNK`` rows."""

    def __init__(self, store: Store, sql: str):
        self.store, self.sql, self.rows = store, sql, []

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            with self.store.transaction() as c:
                c.executemany(self.sql, self.rows)
            self.rows = []


class _People:
    """Per-contact state while generating: parallel arrays indexed by position (rowid - 1)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.emails: list[str] = []
        self.created: list[int] = []
        self.engagement: list[float] = []
        self.opted_from: list[float] = []
        self.opted_to: list[float] = []
        self.dead_from: list[float] = []  # hard bounce or spam complaint: never mailed again
        self.names: list[tuple[str, str]] = []

    def add(self, ident: str, email: str, name: tuple[str, str], created: int, engagement: float) -> int:
        for arr, v in (
            (self.ids, ident), (self.emails, email), (self.names, name), (self.created, created),
            (self.engagement, engagement),
            (self.opted_from, math.inf), (self.opted_to, math.inf), (self.dead_from, math.inf),
        ):  # fmt: skip
            arr.append(v)
        return len(self.ids) - 1

    def suppressed(self, i: int, t: int) -> bool:
        return self.opted_from[i] <= t < self.opted_to[i] or self.dead_from[i] <= t


class _Generator:
    def __init__(self, store: Store, r: random.Random):
        self.store, self.r = store, r
        self.clock = to_ms(store.get_meta("world_clock"))
        self.start = self.clock - HISTORY_DAYS * DAY_MS
        self.wall_s = int(time.time())
        self.people = _People()
        self.contacts = _Sink(store, "INSERT INTO acton_contacts VALUES (?,?,?,?,?,?,?,?,?,0,?,?)")
        self.activity = _Sink(store, "INSERT INTO acton_activity VALUES (?,?,?,?,?)")
        self.suppressions = _Sink(
            store,
            "INSERT OR IGNORE INTO acton_suppressions (kind, email_norm, email, ts_ms, origin) VALUES (?,?,?,?,?)",
        )
        self.consent = _Sink(store, "INSERT INTO acton_consent_events VALUES (?,?,?,?,?)")

    def build(self) -> None:
        self.load_people()
        self.send_messages()
        self.other_activity()
        self.webinar_list()
        for sink in (self.contacts, self.activity, self.suppressions, self.consent):
            sink.flush()

    def when(self, after: int) -> int:
        return self.r.randint(min(after, self.clock), self.clock)

    def sf_people(self) -> dict[str, list[Any]]:
        """Salesforce people by normalised email: the first record's fields (Contacts before Leads), any opt-out."""
        people: dict[str, list[Any]] = {}
        with self.store.lock:
            for obj, company in (("Contact", "NULL"), ("Lead", '"Company"')):
                rows = self.store.conn.execute(
                    f'SELECT "Email", "FirstName", "LastName", {company}, "Title", "LeadSource", '
                    f'"HasOptedOutOfEmail", "CreatedDate" FROM "{obj}" WHERE "IsDeleted" = 0 ORDER BY "Id"'
                )
                for email, *fields, opted, created in rows:
                    if not is_valid_email(email):
                        continue
                    person = people.setdefault(normalise_email(email), [email, *fields, 0, to_ms(created)])
                    person[-2] |= bool(opted)
        return people

    def load_people(self) -> None:
        r = self.r
        sf = self.sf_people()
        for sf_email, first, last, company, title, source, opted, created in sf.values():
            in_acton = r.random() < IN_ACTON
            if in_acton:
                born = min(self.clock, created + r.randint(0, 3 * DAY_MS))
                self.add_contact(
                    _acton_email(r, sf_email), first, last, company, title, source, "Salesforce", born
                )
            if opted and r.random() < SF_OPTOUT_AGREES:
                i = len(self.people.ids) - 1 if in_acton else None
                self.opt_out(i, sf_email.strip(), self.when(created), "Salesforce.com sync")
        for n in range(int(len(sf) * FORM_ONLY)):
            first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
            email = f"{_slug(first)}.{_slug(last)}.form{n}@{r.choice(DOMAINS)}"
            i = self.add_contact(email, first, last, None, None, "Web", "Form", self.when(self.start))
            self.activity.add(
                (self.people.ids[i], "fs", self.people.created[i], None, f"Submitted: {r.choice(FORMS)}")
            )

    def add_contact(self, email: str, first: Any, last: Any, company: Any, title: Any, source: Any, origin: str,
                    created: int) -> int:  # fmt: skip
        ident = _contact_id(self.r)
        self.contacts.add(
            (ident, email, normalise_email(email), first, last, company, title, source, origin, created // 1000,
             self.wall_s)
        )  # fmt: skip
        return self.people.add(ident, email, (first or "", last or ""), created, self.r.random() ** 2)

    def opt_out(self, i: int | None, email: str, t: int, origin: str) -> None:
        """An opt-out at ``t``; some are reversed later by an opt-in (the email leaves the list)."""
        norm = normalise_email(email)
        self.consent.add((norm, email, "optout", t, origin))
        back = t + self.r.randint(DAY_MS, 60 * DAY_MS) if self.r.random() < OPT_IN_LATER else math.inf
        if back <= self.clock:
            self.consent.add((norm, email, "optin", back, API_ORIGIN))
        else:
            self.suppressions.add(("optout", norm, email, t, origin))
        if i is not None:
            self.people.opted_from[i], self.people.opted_to[i] = t, back

    def send_messages(self) -> None:
        r, p = self.r, self.people
        n = 0
        for week in range(HISTORY_DAYS // 7):
            for _ in range(r.choice((1, 1, 2))):
                n += 1
                sent = self.start + week * 7 * DAY_MS + r.randint(0, 6) * DAY_MS + r.randint(14, 22) * HOUR_MS
                name = f"{r.choice(MESSAGE_NAMES)} {from_ms(sent):%b %Y}"
                msg = self.add_message(n, name, sent)
                audience = r.sample(range(len(p.ids)), int(len(p.ids) * r.uniform(0.08, 0.25)))
                for i in sorted(audience):
                    if p.created[i] <= sent:
                        self.deliver(i, msg, name, sent)

    def add_message(self, n: int, name: str, sent: int) -> str:
        ident = message_id(n, from_ms(sent))
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO acton_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (n, ident, name, f"{name}: what's new for you", sent, *SENDER, "q-0002"),
            )
        return ident

    def deliver(self, i: int, msg: str, name: str, sent: int) -> None:
        r, p, cid = self.r, self.people, self.people.ids[i]
        if p.suppressed(i, sent):
            self.activity.add((cid, "su", sent, msg, None))
            return
        self.activity.add((cid, "s", sent, msg, None))
        if r.random() < BOUNCE:
            t = sent + r.randint(1, 600) * 1000
            self.activity.add((cid, "hb", t, msg, None))
            self.suppressions.add(
                ("hardbounce", normalise_email(p.emails[i]), p.emails[i], t, f"Message: {name}")
            )
            p.dead_from[i] = t
            return
        if r.random() >= 0.05 + 0.6 * p.engagement[i]:
            return
        opened = sent + int(r.expovariate(1 / (6 * HOUR_MS)))
        if opened > self.clock:
            return
        self.activity.add((cid, "os", opened, msg, None))
        if r.random() < 0.3:
            self.activity.add((cid, "os", min(self.clock, opened + r.randint(1, 48) * HOUR_MS), msg, None))
        if r.random() < 0.1 + 0.4 * p.engagement[i]:
            self.activity.add((cid, "r", min(self.clock, opened + r.randint(5, 300) * 1000), msg, None))
        x = r.random()
        if x < OPT_OUT and not p.suppressed(i, opened):
            self.activity.add((cid, "oo", opened, msg, None))
            self.opt_out(i, p.emails[i], opened, f"Message: {name}")
        elif x < OPT_OUT + SPAM:
            self.activity.add((cid, "sp", opened, msg, None))
            self.suppressions.add(
                ("spamcomplaint", normalise_email(p.emails[i]), p.emails[i], opened, f"Message: {name}")
            )
            p.dead_from[i] = min(p.dead_from[i], opened)

    def other_activity(self) -> None:
        r, p = self.r, self.people
        webinar_days = [self.clock - d * DAY_MS for d in (150, 100, 60, 20)]
        titles = [WEBINARS[k % len(WEBINARS)] for k in range(len(webinar_days))]
        self.registrations: list[tuple[int, int, str, bool]] = []
        for i, cid in enumerate(p.ids):
            since = max(p.created[i], self.start)
            for _ in range(_poisson(r, p.engagement[i] * 8)):
                self.activity.add((cid, "sv", self.when(since), None, f"Visited: {r.choice(PAGES)}"))
            for _ in range(_poisson(r, p.engagement[i] * 1.5)):
                t, form = self.when(since), r.choice(FORMS)
                self.activity.add((cid, "fv", t, None, f"Viewed: {form}"))
                if r.random() < 0.5:
                    self.activity.add((cid, "fs", t + 60_000, None, f"Submitted: {form}"))
            if r.random() < 0.04:
                open_ones = [k for k, d in enumerate(webinar_days) if d >= p.created[i]]
                if not open_ones:
                    continue
                k = r.choice(open_ones)
                day, title = webinar_days[k], titles[k]
                registered = max(p.created[i], day - r.randint(1, 14) * DAY_MS)
                attended = r.random() < 0.6
                self.activity.add((cid, "wr", registered, None, f"Registered: {title}"))
                if attended:
                    self.activity.add((cid, "wa", day, None, f"Attended: {title}"))
                self.registrations.append((i, day, title, attended))

    def webinar_list(self) -> None:
        """One unrelated list; people who registered twice are in it twice (lists keep duplicates)."""
        columns = [
            {"heading": "First Name", "type": "FIRSTNAME"},
            {"heading": "Last Name", "type": "LASTNAME"},
            {"heading": "E-mail Address", "type": "EMAIL"},
            {"heading": "Webinar", "type": None},
            {"heading": "Attended", "type": None},
        ]
        wall_ms = self.wall_s * 1000
        ident = list_id(1)
        rows = []
        for rec, (i, day, title, attended) in enumerate(
            [*self.registrations, *self.registrations[: len(self.registrations) // 50]]
        ):
            first, last = self.people.names[i]
            email = self.people.emails[i]
            data = {"First Name": first, "Last Name": last, "E-mail Address": email,
                    "Webinar": f"{title} ({from_ms(day):%Y-%m-%d})", "Attended": "Yes" if attended else "No"}  # fmt: skip
            rows.append((ident, rec, normalise_email(email), json.dumps(data), wall_ms, wall_ms))
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO acton_lists VALUES (1, ?, ?, 'Events', 'Webinar registrations', ?, ?, ?, ?)",
                (ident, WEBINAR_LIST, json.dumps(columns), len(rows), wall_ms, wall_ms),
            )
            c.executemany("INSERT INTO acton_records VALUES (?, ?, ?, ?, ?, ?)", rows)


def generate(store: Store, rng: random.Random) -> None:
    """Build the Act-On side from the Salesforce people already in the store."""
    ensure_tables(store, indexes=False)
    _Generator(store, rng).build()
    ensure_tables(store)
    with store.transaction() as c:
        rescore(c, to_ms(store.get_meta("world_clock")), int(time.time()))


class _Hour:
    """One simulated hour; events happen at business times inside [start, end)."""

    def __init__(self, store: Store, r: random.Random, start: int, end: int):
        self.store, self.r, self.start, self.end = store, r, start, end
        self.wall_s = int(time.time())
        self.counts: Counter[str] = Counter()
        self.touched: set[str] = set()
        hour = from_ms(start)
        self.factor = 1.0 if hour.weekday() < 5 and 14 <= hour.hour < 23 else 0.15
        with store.lock:
            (self.size,) = store.conn.execute("SELECT COUNT(*) FROM acton_contacts").fetchone()

    def at(self) -> int:
        return self.r.randrange(self.start, self.end)

    def event(
        self,
        c: sqlite3.Connection,
        cid: str,
        verb: str,
        t: int,
        msg: str | None = None,
        what: str | None = None,
    ) -> None:
        c.execute("INSERT INTO acton_activity VALUES (?, ?, ?, ?, ?)", (cid, verb, t, msg, what))
        self.touched.add(cid)
        self.counts["events"] += 1

    def contact(self, c: sqlite3.Connection, rowid: int) -> tuple[str, str] | None:
        return c.execute("SELECT id, email FROM acton_contacts WHERE rowid = ?", (rowid,)).fetchone()

    def run(self) -> dict[str, int]:
        with self.store.transaction() as c:
            self.form_fills(c)
            if self.size and self.r.random() < 0.04 * self.factor:
                self.send(c)
            self.engagement(c)
            self.visits(c)
            self.opt_ins(c)
            self.counts["scores_changed"] += rescore(c, self.end, self.wall_s, sorted(self.touched))
            if from_ms(self.start).hour == 0:
                crossing = contacts_crossing_decay(c, self.end, 24 * HOUR_MS)
                self.counts["scores_changed"] += rescore(c, self.end, self.wall_s, crossing)
        return dict(self.counts)

    def form_fills(self, c: sqlite3.Connection) -> None:
        r = self.r
        for n in range(_poisson(r, self.factor * max(0.5, self.size / 20_000))):
            email = self.salesforce_email(c) if r.random() < 0.2 else None
            first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
            email = email or f"{_slug(first)}.{_slug(last)}.f{self.start // HOUR_MS}x{n}@{r.choice(DOMAINS)}"
            t, cid = self.at(), _contact_id(r)
            c.execute(
                "INSERT INTO acton_contacts VALUES (?, ?, ?, ?, ?, NULL, NULL, 'Web', 'Form', 0, ?, ?)",
                (cid, email.strip(), normalise_email(email), first, last, t // 1000, self.wall_s),
            )
            self.event(c, cid, "fs", t, what=f"Submitted: {r.choice(FORMS)}")
            self.counts["contacts_created"] += 1

    def salesforce_email(self, c: sqlite3.Connection) -> str | None:
        """A Salesforce Lead's email not yet known to Act-On (the person fills a form)."""
        (n,) = c.execute('SELECT COUNT(*) FROM "Lead"').fetchone()
        if n == 0:
            return None
        row = c.execute(
            'SELECT "Email" FROM "Lead" ORDER BY "Id" LIMIT 1 OFFSET ?', (self.r.randrange(n),)
        ).fetchone()
        email = row[0] if row else None
        if not is_valid_email(email):
            return None
        known = c.execute(
            "SELECT 1 FROM acton_contacts WHERE email_norm = ?", (normalise_email(email),)
        ).fetchone()
        return None if known else email

    def send(self, c: sqlite3.Connection) -> None:
        r = self.r
        (n,) = c.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM acton_messages").fetchone()
        sent = self.at()
        name = f"{r.choice(MESSAGE_NAMES)} {from_ms(sent):%b %Y}"
        msg = message_id(n, from_ms(sent))
        c.execute(
            "INSERT INTO acton_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (n, msg, name, f"{name}: what's new for you", sent, *SENDER, "q-0002"),
        )
        blocked = {e for (e,) in c.execute("SELECT DISTINCT email_norm FROM acton_suppressions")}
        rows = []
        for rowid in sorted(r.sample(range(1, self.size + 1), int(self.size * r.uniform(0.08, 0.25)))):
            cid, email = self.contact(c, rowid)
            if normalise_email(email) in blocked:
                rows.append((cid, "su", sent, msg, None))
                continue
            rows.append((cid, "s", sent, msg, None))
            self.touched.add(cid)
            if r.random() < BOUNCE:
                rows.append((cid, "hb", sent + 1000, msg, None))
                c.execute(
                    "INSERT OR IGNORE INTO acton_suppressions (kind, email_norm, email, ts_ms, origin) VALUES ('hardbounce', ?, ?, ?, ?)",
                    (normalise_email(email), email, sent + 1000, f"Message: {name}"),
                )
                self.counts["bounces"] += 1
        c.executemany("INSERT INTO acton_activity VALUES (?, ?, ?, ?, ?)", rows)
        self.counts["messages_sent"] += 1
        self.counts["events"] += len(rows)

    def engagement(self, c: sqlite3.Connection) -> None:
        """Opens trickle in over the three days after a send, most in the first hours."""
        recent = c.execute(
            "SELECT id, name, sent_ms FROM acton_messages WHERE sent_ms > ? AND sent_ms < ? ORDER BY n",
            (self.start - 72 * HOUR_MS, self.end),
        ).fetchall()
        for msg, name, sent in recent:
            recipients = [cid for (cid,) in c.execute(
                "SELECT contact_id FROM acton_activity WHERE msg_id = ? AND verb = 's' ORDER BY rowid", (msg,)
            )]  # fmt: skip
            age_h = max(0, (self.start - sent) // HOUR_MS)
            expected = len(recipients) * 0.25 * (1 - math.exp(-1 / 12)) * math.exp(-age_h / 12)
            for cid in self.r.sample(recipients, min(len(recipients), _poisson(self.r, expected))):
                t = max(self.at(), sent)
                self.event(c, cid, "os", t, msg)
                x = self.r.random()
                if x < 0.25:
                    self.event(c, cid, "r", t, msg)
                elif x < 0.25 + OPT_OUT:
                    email = c.execute("SELECT email FROM acton_contacts WHERE id = ?", (cid,)).fetchone()[0]
                    if opt_out(c, email, t, f"Message: {name}"):
                        self.event(c, cid, "oo", t, msg)
                        self.counts["optouts"] += 1
                elif x < 0.25 + OPT_OUT + SPAM:
                    email = c.execute("SELECT email FROM acton_contacts WHERE id = ?", (cid,)).fetchone()[0]
                    self.event(c, cid, "sp", t, msg)
                    c.execute(
                        "INSERT OR IGNORE INTO acton_suppressions (kind, email_norm, email, ts_ms, origin) VALUES ('spamcomplaint', ?, ?, ?, ?)",
                        (normalise_email(email), email, t, f"Message: {name}"),
                    )
                    self.counts["spam"] += 1

    def visits(self, c: sqlite3.Connection) -> None:
        r = self.r
        if not self.size:
            return
        for _ in range(_poisson(r, self.factor * self.size / 2000)):
            cid, _ = self.contact(c, r.randint(1, self.size))
            x = r.random()
            if x < 0.8:
                self.event(c, cid, "sv", self.at(), what=f"Visited: {r.choice(PAGES)}")
            elif x < 0.95:
                self.event(c, cid, "fs", self.at(), what=f"Submitted: {r.choice(FORMS)}")
            else:
                self.event(c, cid, "wr", self.at(), what=f"Registered: {r.choice(WEBINARS)}")

    def opt_ins(self, c: sqlite3.Connection) -> None:
        (n,) = c.execute("SELECT COUNT(*) FROM acton_suppressions WHERE kind = 'optout'").fetchone()
        for _ in range(_poisson(self.r, self.factor * max(0.05, n / 2000))):
            if n == 0:
                return
            row = c.execute(
                "SELECT email FROM acton_suppressions WHERE kind = 'optout' ORDER BY ts_ms, email_norm LIMIT 1 OFFSET ?",
                (self.r.randrange(n),),
            ).fetchone()
            if row and opt_in(c, row[0], self.at(), API_ORIGIN):
                n -= 1
                self.counts["optins"] += 1


def simulate_hour(store: Store, rng: random.Random, hour_start: str, hour_end: str) -> dict[str, int]:
    """One hour of Act-On business between two world-clock times (store datetime text); counts what changed."""
    return _Hour(store, rng, to_ms(hour_start), to_ms(hour_end)).run()
