"""Field metadata of the Salesforce objects the sandbox serves: the seed of every describe.

The live schema is kept in the store (table ``sf_fields``) so that ``mutate`` can add, rename and drop
fields; this module only provides the initial definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str  # describe type: id, reference, string, picklist, email, boolean, int, double, currency, ...
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    updateable: bool = True
    createable: bool = True
    custom: bool = False
    external_id: bool = False
    calculated: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()

    def describe(self) -> dict:
        """The field as Salesforce's describe serialises it."""
        d = asdict(self)
        soap = SOAP_TYPES[self.type]
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label or self.name,
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "byteLength": self.length * 3,
            "nillable": self.nillable,
            "updateable": self.updateable,
            "createable": self.createable,
            "custom": self.custom,
            "externalId": self.external_id,
            "idLookup": self.type in ("id", "email") or self.external_id,
            "calculated": self.calculated,
            "unique": False,
            "filterable": True,
            "sortable": self.type not in ("textarea", "multipicklist"),
            "groupable": self.type not in ("double", "currency", "percent", "textarea", "datetime"),
            "defaultedOnCreate": self.name in AUDIT_FIELDS or self.type == "boolean",
            "compoundFieldName": None,
            "referenceTo": list(d["reference_to"]),
            "relationshipName": self.relationship_name,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist_values
            ],
            "soapType": soap,
            "permissionable": self.permissionable,
        }

    @property
    def permissionable(self) -> bool:
        """Whether a permission set can grant access to it: not the Id, the system fields, nor a field every
        record requires (those every user with access to the object sees)."""
        required = not self.nillable and self.createable and self.type != "boolean"
        return not (self.type == "id" or self.name in SYSTEM_FIELDS or required)


SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "textarea": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}

AUDIT_FIELDS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
SYSTEM_FIELDS = frozenset({*AUDIT_FIELDS, "IsDeleted"})


def _ref(name: str, *targets: str, rel: str | None = None, **kw) -> FieldDef:
    rel = rel if rel is not None else (name[:-2] if name.endswith("Id") else None)
    return FieldDef(name, "reference", length=18, reference_to=targets, relationship_name=rel, **kw)


def _sobject(
    key_prefix: str, *own: FieldDef, deletable: bool = True, modified: bool = True
) -> tuple[str, list[FieldDef]]:
    """An object's key prefix and fields: the Id, its own fields, then the system fields every object has (IsDeleted
    when it is ``deletable``, the LastModified pair when it is ``modified``)."""
    ro = {"nillable": False, "updateable": False, "createable": False}
    system = [FieldDef("IsDeleted", "boolean", "Deleted", **ro)] if deletable else []
    system += [FieldDef("CreatedDate", "datetime", "Created Date", **ro), _ref("CreatedById", "User", **ro)]
    if modified:
        system += [
            FieldDef("LastModifiedDate", "datetime", "Last Modified Date", **ro),
            _ref("LastModifiedById", "User", rel="LastModifiedBy", **ro),
        ]
    system.append(FieldDef("SystemModstamp", "datetime", "System Modstamp", **ro))
    return key_prefix, [FieldDef("Id", "id", "Record ID", length=18, **ro), *own, *system]


def _s(name: str, length: int = 255, **kw) -> FieldDef:
    return FieldDef(name, "string", length=length, **kw)


def _pick(name: str, *values: str, **kw) -> FieldDef:
    return FieldDef(name, "picklist", length=255, picklist_values=values, **kw)


def _num(name: str, type_: str = "currency", precision: int = 18, scale: int = 2, **kw) -> FieldDef:
    return FieldDef(name, type_, precision=precision, scale=scale, **kw)


def _bool(name: str, **kw) -> FieldDef:
    return FieldDef(name, "boolean", nillable=False, **kw)


def _ro(f: FieldDef) -> FieldDef:
    return FieldDef(**{**asdict(f), "updateable": False, "createable": False})


LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
LEAD_SOURCES = (
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Trade Show",
    "Webinar",
    "Other",
)
INDUSTRIES = (
    "Technology",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Energy",
    "Media",
)
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)

ACTON_CUSTOM_FIELDS = [
    _num("ActOn_Lead_Score__c", "double", precision=6, scale=0, label="Act-On Lead Score", custom=True),
    _bool("ActOn_High_Intent__c", label="Act-On High Intent", custom=True),
    FieldDef("ActOn_Last_Engagement__c", "datetime", "Act-On Last Engagement", custom=True),
]

_PERSON = [
    _s("FirstName", 40),
    _s("LastName", 80, nillable=False),
    FieldDef("Email", "email", length=80),
    _s("Title", 128),
    _pick("LeadSource", *LEAD_SOURCES),
    _ref("OwnerId", "User", "Group", rel="Owner"),
    _bool("HasOptedOutOfEmail", label="Email Opt Out"),
    _bool("DoNotCall", label="Do Not Call"),
    _s("EmailBouncedReason", 255),
    FieldDef("EmailBouncedDate", "datetime"),
]

OBJECTS: dict[str, tuple[str, list[FieldDef]]] = {
    "Lead": _sobject(
        "00Q",
        *_PERSON,
        _s("Company", 255, nillable=False),
        _pick("Status", *LEAD_STATUSES, nillable=False),
        _pick("Industry", *INDUSTRIES),
        _num("AnnualRevenue"),
        _ro(_bool("IsConverted")),
        _ro(_ref("ConvertedAccountId", "Account")),
        _ro(_ref("ConvertedContactId", "Contact")),
        _ro(_ref("ConvertedOpportunityId", "Opportunity")),
        _ro(FieldDef("ConvertedDate", "date")),
        *ACTON_CUSTOM_FIELDS,
    ),
    "Contact": _sobject(
        "003",
        _ref("AccountId", "Account"),
        *_PERSON,
        FieldDef("Birthdate", "date"),
        *ACTON_CUSTOM_FIELDS,
    ),
    "Account": _sobject(
        "001",
        _s("Name", 255, nillable=False),
        _pick("Type", "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"),
        _pick("Industry", *INDUSTRIES),
        _num("AnnualRevenue"),
        FieldDef("NumberOfEmployees", "int", precision=8),
        FieldDef("Website", "url", length=255),
        _ref("OwnerId", "User", rel="Owner"),
        _ref("ParentId", "Account", rel="Parent"),
    ),
    "Opportunity": _sobject(
        "006",
        _s("Name", 120, nillable=False),
        _ref("AccountId", "Account"),
        _ref("OwnerId", "User", rel="Owner"),
        _ref("ContactId", "Contact"),
        _ref("CampaignId", "Campaign"),
        _pick("StageName", *STAGES, nillable=False),
        _pick("Type", "New Business", "Existing Business"),
        _pick("LeadSource", *LEAD_SOURCES),
        _pick("ForecastCategory", "Pipeline", "BestCase", "Commit", "Omitted", "Closed"),
        _num("Amount"),
        _ro(_num("ExpectedRevenue")),
        _num("Probability", "percent", precision=3, scale=0),
        FieldDef("CloseDate", "date", nillable=False),
        _ro(_bool("IsClosed")),
        _ro(_bool("IsWon")),
        _ro(FieldDef("FiscalYear", "int", precision=4)),
        _ro(FieldDef("FiscalQuarter", "int", precision=1)),
    ),
    "OpportunityContactRole": _sobject(
        "00K",
        _ref("OpportunityId", "Opportunity", nillable=False),
        _ref("ContactId", "Contact", nillable=False),
        _pick("Role", "Decision Maker", "Economic Buyer", "Evaluator", "Influencer", "Other"),
        _bool("IsPrimary"),
    ),
    "OpportunityHistory": _sobject(
        "008",
        _ro(_ref("OpportunityId", "Opportunity", nillable=False)),
        _ro(_pick("StageName", *STAGES)),
        _ro(_num("Amount")),
        _ro(FieldDef("CloseDate", "date")),
        _ro(_num("Probability", "percent", precision=3, scale=0)),
        _ro(_pick("ForecastCategory", "Pipeline", "BestCase", "Commit", "Omitted", "Closed")),
        modified=False,
    ),
    "Campaign": _sobject(
        "701",
        _s("Name", 80, nillable=False),
        _pick("Type", "Email", "Webinar", "Conference", "Advertisement", "Direct Mail", "Other"),
        _pick("Status", "Planned", "In Progress", "Completed", "Aborted"),
        FieldDef("StartDate", "date"),
        FieldDef("EndDate", "date"),
        _bool("IsActive"),
        _ref("ParentId", "Campaign", rel="Parent"),
        _ref("OwnerId", "User", rel="Owner"),
        _num("BudgetedCost"),
        _num("ActualCost"),
        _num("ExpectedRevenue"),
        _ro(FieldDef("NumberOfLeads", "int", precision=9)),
        _ro(FieldDef("NumberOfContacts", "int", precision=9)),
        _ro(FieldDef("NumberOfOpportunities", "int", precision=9)),
        _ro(FieldDef("NumberOfWonOpportunities", "int", precision=9)),
    ),
    "CampaignMember": _sobject(
        "00v",
        _ref("CampaignId", "Campaign", nillable=False),
        _ref("LeadId", "Lead"),
        _ref("ContactId", "Contact"),
        _ro(_ref("LeadOrContactId", "Lead", "Contact", rel=None)),
        _pick("Status", "Sent", "Responded"),
        _ro(_bool("HasResponded")),
        _ro(FieldDef("FirstRespondedDate", "date")),
        _ro(FieldDef("Email", "email", length=80)),
    ),
    "User": _sobject(
        "005",
        _s("Username", 80, nillable=False),
        FieldDef("Email", "email", length=128, nillable=False),
        _s("FirstName", 40),
        _s("LastName", 80, nillable=False),
        _ro(_s("Name", 121)),
        _bool("IsActive"),
        _ref("ManagerId", "User", rel="Manager"),
        _ref("UserRoleId", "UserRole", rel="UserRole"),
        deletable=False,
    ),
    "Organization": _sobject(
        "00D",
        _ro(_s("Name", 80)),
        _ro(_bool("IsSandbox")),
        _ro(_s("OrganizationType", 40)),
        _ro(_s("InstanceName", 5)),
        deletable=False,
    ),
    # Who may see and edit which field (sandbox/salesforce/access.py): an administrator's setup objects.
    "PermissionSet": _sobject(
        "0PS",
        _s("Name", 80, nillable=False),
        _s("Label", 80, nillable=False),
        _s("Description", 255),
        _ro(_bool("IsOwnedByProfile")),
        deletable=False,
    ),
    "FieldPermissions": _sobject(
        "01k",
        _ref("ParentId", "PermissionSet", rel="Parent", nillable=False, updateable=False),
        _s("SobjectType", 255, nillable=False, updateable=False),
        _s("Field", 255, nillable=False, updateable=False),
        _bool("PermissionsRead"),
        _bool("PermissionsEdit"),
        deletable=False,
    ),
    "PermissionSetAssignment": _sobject(
        "0Pa",
        _ref("AssigneeId", "User", nillable=False, updateable=False),
        _ref("PermissionSetId", "PermissionSet", nillable=False, updateable=False),
        deletable=False,
    ),
}

# CampaignMember rows and the permission objects are hard-deleted; everything else soft-deletes.
HARD_DELETE_OBJECTS = frozenset(
    {"CampaignMember", "PermissionSet", "FieldPermissions", "PermissionSetAssignment"}
)
