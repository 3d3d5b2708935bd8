"""Describe payloads: the versions list, resources, global describe and per-object describe."""

from __future__ import annotations

import re
from typing import Any

from sandbox.salesforce import access
from sandbox.salesforce.writes import READ_ONLY_OBJECTS, UNDELETABLE_OBJECTS
from sandbox.store import Store

OLDEST_VERSION, NEWEST_VERSION = 31, 64
_SEASONS = ("Winter", "Spring", "Summer")


def versions() -> list[dict[str, str]]:
    """Every API version the sandbox answers to, labelled by release (v59.0 is Winter '24)."""
    out = []
    for v in range(OLDEST_VERSION, NEWEST_VERSION + 1):
        i = v - 59
        out.append(
            {
                "label": f"{_SEASONS[i % 3]} '{24 + i // 3}",
                "url": f"/services/data/v{v}.0",
                "version": f"{v}.0",
            }
        )
    return out


def resources(prefix: str) -> dict[str, str]:
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs", "tooling", "search")
    return {n: f"{prefix}/{n}" for n in names}


def _label(obj: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", obj)


def _plural(label: str) -> str:
    if label.endswith("History"):
        return label
    return label[:-1] + "ies" if label.endswith("y") else label + "s"


def object_summary(store: Store, obj: str, prefix: str) -> dict[str, Any]:
    """The object's entry in the global describe (also the head of its full describe)."""
    label = _label(obj)
    writable = obj not in READ_ONLY_OBJECTS
    url = f"{prefix}/sobjects/{obj}"
    return {
        "activateable": False,
        "createable": writable,
        "custom": obj.endswith("__c"),
        "customSetting": False,
        "deletable": obj not in UNDELETABLE_OBJECTS,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isSubtype": False,
        "keyPrefix": store.key_prefix(obj),
        "label": label,
        "labelPlural": _plural(label),
        "layoutable": writable,
        "mergeable": obj in ("Lead", "Contact", "Account"),
        "mruEnabled": writable,
        "name": obj,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": writable,
        "triggerable": writable,
        "undeletable": obj not in UNDELETABLE_OBJECTS,
        "updateable": writable,
        "urls": {
            "rowTemplate": f"{url}/{{ID}}",
            "defaultValues": f"{url}/defaultValues?recordTypeId&fields",
            "describe": f"{url}/describe",
            "sobject": url,
        },
    }


def global_describe(store: Store, prefix: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [object_summary(store, o, prefix) for o in store.objects()],
    }


def describe(store: Store, obj: str, prefix: str, user_id: str) -> dict[str, Any]:
    """The object's describe as ``user_id`` sees it (their field-level security)."""
    return {
        **object_summary(store, obj, prefix),
        "childRelationships": [],
        "compactLayoutable": True,
        "fields": access.described_fields(store, obj, user_id),
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": True,
        "supportedScopes": [{"label": "All " + _plural(_label(obj)).lower(), "name": "everything"}],
    }
