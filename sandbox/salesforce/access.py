"""Who may see and change what in the sandbox org: its administrator, the field-level security of restricted
fields, and the permission sets that grant it.

Salesforce gives a field created through the Tooling API to no one: a user sees and edits it only once a
permission set assigned to them grants it (FieldPermissions). The sandbox keeps that rule for the fields it
calls restricted — those created through the Tooling API and those an admin op restricts (``mutate``
``restrict_field``) — and leaves every other field open to every user, as a profile granting it would. The
administrator (the world's first user) sees and edits every field and alone may change the org's setup: custom
fields, permission sets, their field permissions and assignments.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from sandbox.salesforce.errors import RowError
from sandbox.salesforce.schema import ACTON_CUSTOM_FIELDS
from sandbox.store import Store

SETUP_OBJECTS = frozenset({"PermissionSet", "FieldPermissions", "PermissionSetAssignment"})
_DEVELOPER_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*")


def ensure_tables(store: Store) -> None:
    with store.transaction() as c:
        c.execute(
            "CREATE TABLE IF NOT EXISTS sf_restricted_fields (object TEXT, field TEXT, "
            "PRIMARY KEY (object, field))"
        )
        c.execute("CREATE TABLE IF NOT EXISTS sf_token_users (token TEXT PRIMARY KEY, user_id TEXT)")


# -- the administrator and whose session a token is -------------------------------------------------------
def admin_id(store: Store) -> str | None:
    return store.get_meta("admin_user_id")


def is_admin(store: Store, user_id: str | None) -> bool:
    return user_id is not None and user_id == admin_id(store)


def admin_credentials(store: Store) -> dict[str, str] | None:
    """The administrator's login (their Username and a password made at first use); None without a world."""
    uid = admin_id(store)
    if uid is None:
        return None
    creds = store.get_meta("salesforce_admin_credentials")
    if creds is None:
        user = store.get("User", uid)
        assert user is not None, "the world's administrator is missing from User"
        creds = {"username": user["Username"], "password": secrets.token_urlsafe(18)}
        store.set_meta("salesforce_admin_credentials", creds)
    return creds


def admin_login(store: Store, username: str, password: str) -> str | None:
    """The administrator's user id when these are their username and password (security token appended or
    not: the sandbox trusts every address, as an org with the login IP range open does)."""
    creds = admin_credentials(store)
    if creds is None or username != creds["username"]:
        return None
    return admin_id(store) if hmac.compare_digest(password, creds["password"]) else None


def remember_session(store: Store, token: str, user_id: str) -> None:
    with store.lock:
        store.conn.execute("INSERT OR REPLACE INTO sf_token_users VALUES (?, ?)", (token, user_id))


def session_user(store: Store, token: str) -> str | None:
    """The user an access token was issued to, when it was not the integration user."""
    with store.lock:
        row = store.conn.execute("SELECT user_id FROM sf_token_users WHERE token = ?", (token,)).fetchone()
    return row[0] if row else None


# -- field-level security ------------------------------------------------------------------------------------
# The standard fields the sync writes besides its own: a bare org grants them to nobody but the administrator.
CONSENT_FIELDS = ("HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate")


def bare_org_ops() -> list[dict[str, Any]]:
    """``mutate`` ops that make the world an org as `make setup-org` finds a real one: Lead and Contact without
    the sync's custom fields, their consent and bounce fields restricted."""
    ops = [
        {"op": "drop_field", "object": obj, "field": f.name}
        for obj in ("Lead", "Contact")
        for f in ACTON_CUSTOM_FIELDS
    ]
    return ops + [
        {"op": "restrict_field", "object": obj, "field": name}
        for obj in ("Lead", "Contact")
        for name in CONSENT_FIELDS
    ]


def restrict(store: Store, obj: str, field: str) -> None:
    with store.lock:
        store.conn.execute("INSERT OR IGNORE INTO sf_restricted_fields VALUES (?, ?)", (obj, field.lower()))


def field_access(store: Store, obj: str, user_id: str) -> dict[str, tuple[bool, bool]]:
    """(read, edit) of this user on each restricted field of ``obj``, by lower-cased name; a field not named
    is open to everyone."""
    with store.lock:
        restricted = [
            r[0]
            for r in store.conn.execute("SELECT field FROM sf_restricted_fields WHERE object = ?", (obj,))
        ]
        if not restricted or is_admin(store, user_id):
            return {}
        granted = {
            field.partition(".")[2].lower(): (bool(read), bool(edit))
            for field, read, edit in store.conn.execute(
                'SELECT fp."Field", MAX(fp."PermissionsRead"), MAX(fp."PermissionsEdit") '
                'FROM "FieldPermissions" fp JOIN "PermissionSetAssignment" a '
                'ON a."PermissionSetId" = fp."ParentId" WHERE a."AssigneeId" = ? AND fp."SobjectType" = ? '
                'GROUP BY fp."Field"',
                (user_id, obj),
            )
        }
    return {name: granted.get(name, (False, False)) for name in restricted}


def described_fields(store: Store, obj: str, user_id: str) -> list[dict[str, Any]]:
    """The describe's fields as this user sees them: a restricted field it may not read is left out, one it
    may read but not edit is neither updateable nor createable."""
    limits = field_access(store, obj, user_id)
    out = []
    for f in store.fields(obj):
        read, edit = limits.get(f.name.lower(), (True, True))
        if not read:
            continue
        described = f.describe()
        if not edit:
            described.update(updateable=False, createable=False)
        out.append(described)
    return out


def check_edit(store: Store, obj: str, names: list[str], user_id: str) -> None:
    """A field this user may not read does not exist for them; one they may only read is not writable."""
    limits = field_access(store, obj, user_id)
    hidden = next((n for n in names if not limits.get(n.lower(), (True, True))[0]), None)
    if hidden is not None:
        raise RowError("INVALID_FIELD", f"No such column '{hidden}' on sobject of type {obj}")
    denied = [n for n in names if not limits.get(n.lower(), (True, True))[1]]
    if denied:
        raise RowError.not_writable(denied)


# -- the setup objects ---------------------------------------------------------------------------------------
def _duplicate(store: Store, obj: str, where: dict[str, Any]) -> str | None:
    cond = " AND ".join(f'"{k}" = ?' for k in where)
    with store.lock:
        row = store.conn.execute(f'SELECT "Id" FROM "{obj}" WHERE {cond}', list(where.values())).fetchone()
    return row[0] if row else None


def _check_field_permission(store: Store, row: dict[str, Any]) -> None:
    """A FieldPermissions row names a permissionable field of its object and reads what it edits."""
    target, _, name = str(row.get("Field") or "").partition(".")
    meta = store.field(target, name) if store.canonical_object(target) == row.get("SobjectType") else None
    if meta is None or not meta.permissionable:
        raise RowError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Field Name: bad value for restricted picklist field: {row.get('Field')}",
            ["Field"],
        )
    row["Field"] = f"{target}.{meta.name}"
    if row.get("PermissionsEdit") and not row.get("PermissionsRead"):
        raise RowError(
            "FIELD_INTEGRITY_EXCEPTION",
            "Permission Read is required when Edit is granted",
            ["PermissionsRead"],
        )


def check_setup_write(
    store: Store, kind: str, obj: str, record_id: str | None, values: dict[str, Any], user_id: str
) -> None:
    """Refuse a write to a setup object as Salesforce does: only the administrator, developer names unique and
    well formed, a permission granted once per permission set and field, a set assigned once per user."""
    if obj not in SETUP_OBJECTS:
        return
    if not is_admin(store, user_id):
        raise RowError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
    if kind not in ("insert", "update"):
        return
    row = {**((store.get(obj, record_id) or {}) if record_id else {}), **values}
    if obj == "PermissionSet":
        name = str(row.get("Name") or "")
        if not _DEVELOPER_NAME.fullmatch(name) or name.endswith("_"):
            raise RowError(
                "FIELD_INTEGRITY_EXCEPTION",
                "The API Name can only contain underscores and alphanumeric characters. It must be unique, "
                "begin with a letter, not include spaces, not end with an underscore, and not contain two "
                "consecutive underscores.",
                ["Name"],
            )
        other = _duplicate(store, obj, {"Name": name})
        if other not in (None, record_id):
            raise RowError(
                "DUPLICATE_DEVELOPER_NAME", f"The API name {name} is already in use by another permission set"
            )
        return
    if obj == "FieldPermissions":
        _check_field_permission(store, row)
        if kind == "insert":
            values["Field"] = row["Field"]
        key = {"ParentId": row["ParentId"], "Field": row["Field"]}
    else:
        key = {"PermissionSetId": row["PermissionSetId"], "AssigneeId": row["AssigneeId"]}
    other = _duplicate(store, obj, key)
    if kind == "insert" and other is not None:
        raise RowError(
            "DUPLICATE_VALUE",
            f"duplicate value found: {', '.join(key)} duplicates value on record with id: {other}",
        )
