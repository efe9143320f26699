"""The mapping language as pydantic models.

A mapping is data, never code: every rule is a condition tree over canonical properties,
the account and activities, plus points. `extra="forbid"` everywhere, because a typo in a
key must be an error rather than a rule that silently never fires.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connector.core.records import ACTIVITY_TYPES

CANONICAL_PROPERTIES = frozenset(
    {
        "email", "title", "company", "employees", "industry", "annual_revenue",
        "tech_stack", "country", "source", "lifecycle_stage", "lead_status",
        "email_opt_out", "created_at", "owner",
    }
)  # fmt: skip
"""The canonical record's property names; a rule on any other name never fires unless a
CRM field is mapped onto it or the mapping declares it (records from files may carry it)."""

RULE_ID = r"^[A-Za-z][A-Za-z0-9_\-]*$"


KEY_MARKER = "@"
"""A model-level error message may start with `@key: ` to name the key it is about, so that
`validate` can point at that key's line rather than at the table header."""


class Spec(BaseModel):
    """Base for every mapping table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _exactly_one(model: BaseModel, names: tuple[str, ...], what: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        listed = ", ".join(names)
        found = ", ".join(given) or "none"
        raise ValueError(f"{what} needs exactly one of: {listed} (found: {found})")


class TextMatch(Spec):
    """A test on one activity detail field; string tests are case-insensitive."""

    equals: str | None = None
    contains: str | None = None
    regex: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")

    _check = field_validator("regex")(_check_regex)

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        _exactly_one(self, ("equals", "contains", "regex", "in_"), "a detail test")
        return self


PROPERTY_TESTS = (
    "equals",
    "in_",
    "regex",
    "between",
    "gte",
    "lte",
    "exists",
    "contains",
    "contains_all",
    "email_domain_in",
    "email_domain_ends_with",
)


class PropertyCondition(Spec):
    """A test on one canonical property (or, under `account`, one account field)."""

    field: str
    equals: str | float | bool | None = None
    in_: list[str | float] | None = Field(default=None, alias="in")
    regex: str | None = None
    between: tuple[float, float] | None = None
    gte: float | None = None
    lte: float | None = None
    exists: bool | None = None
    contains: str | None = None
    contains_all: list[str] | None = None
    email_domain_in: list[str] | None = None
    email_domain_ends_with: list[str] | None = None

    _check = field_validator("regex")(_check_regex)

    @field_validator("between")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"between needs [low, high] with low <= high, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        _exactly_one(self, PROPERTY_TESTS, f"the condition on {self.field!r}")
        return self


class ActivityCondition(Spec):
    """Matches activities of some types, optionally by detail fields, inside a time window."""

    type: str | list[str]
    detail: dict[str, TextMatch] = Field(default_factory=dict)
    min_count: Annotated[int, Field(ge=1)] = 1
    within_days: Annotated[float, Field(ge=0)] | None = None

    @property
    def types(self) -> tuple[str, ...]:
        """The activity types as a tuple, whether one or several were written."""
        return (self.type,) if isinstance(self.type, str) else tuple(self.type)

    @field_validator("type")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        if not value:
            raise ValueError("type must name at least one activity type")
        return value


CONDITION_KINDS = ("property", "account", "activity", "any", "all")


class Condition(Spec):
    """Exactly one of: a property test, an account test, an activity test, any-of, all-of."""

    property: PropertyCondition | None = None
    account: PropertyCondition | None = None
    activity: ActivityCondition | None = None
    any: list[Condition] | None = None
    all: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        _exactly_one(self, CONDITION_KINDS, "a condition")
        for group in (self.any, self.all):
            if group is not None and not group:
                raise ValueError("any/all need at least one condition")
        return self


class Rule(Condition):
    """A scoring rule: when its condition holds it adds `points` to one axis."""

    id: Annotated[str, Field(pattern=RULE_ID)]
    axis: Literal["fit", "engagement"]
    points: int
    count: Literal["once", "each"] = "once"
    max_points: Annotated[int, Field(ge=0)] | None = None
    category: str | None = None
    hot: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _each_needs_activity(self) -> Self:
        if self.count == "each" and self.activity is None:
            raise ValueError(
                "@count: count = 'each' multiplies by matching activities: use an activity test"
            )
        return self


class Gate(Condition):
    """A data-quality gate: when it holds, the record cannot be MQL and is routed to review."""

    id: Annotated[str, Field(pattern=RULE_ID)]
    reason: str


class Category(Spec):
    """A named group of rules whose summed points are capped."""

    max_points: Annotated[int, Field(ge=0)]


class Decay(Spec):
    """Inactivity decay: `points` per full `every_days` since the newest activity."""

    id: Annotated[str, Field(pattern=RULE_ID)] = "inactivity_decay"
    points: Annotated[int, Field(le=0)] = -10
    every_days: Annotated[float, Field(gt=0)] = 30
    grace_days: Annotated[float, Field(ge=0)] = 0
    axis: Literal["fit", "engagement"] = "engagement"


class Qualification(Spec):
    """When a lead is an MQL: total over threshold and enough of both axes."""

    threshold: int
    fit_min: int | None = None
    engagement_min: int | None = None


FIT_LETTERS = ("A", "B", "C")
ENGAGEMENT_DIGITS = ("1", "2", "3")


class Grades(Spec):
    """Grade bands: minimum fit for A/B/C (else D) and engagement for 1/2/3 (else 4)."""

    fit: dict[Literal["A", "B", "C"], int]
    engagement: dict[Literal["1", "2", "3"], int]

    @model_validator(mode="after")
    def _descending(self) -> Self:
        for name, keys, bands in (
            ("fit", FIT_LETTERS, self.fit),
            ("engagement", ENGAGEMENT_DIGITS, self.engagement),
        ):
            missing = [k for k in keys if k not in bands]
            if missing:
                raise ValueError(f"@{name}: needs bands {', '.join(keys)}; missing {missing}")
            values = [bands[k] for k in keys]  # type: ignore[index]
            if values != sorted(values, reverse=True):
                raise ValueError(f"@{name}: bands must decrease from best to worst")
        return self


class MappingInfo(Spec):
    """Name, intent and global defaults of a mapping."""

    name: str
    description: str = ""
    window_days: Annotated[float, Field(ge=0)] = 90
    custom_activity_types: list[str] = Field(default_factory=list)
    custom_properties: list[str] = Field(default_factory=list)
    """Property names beyond the canonical ones that records carry (e.g. from a CSV)."""


class RejectedStatuses(Spec):
    """Lead statuses that mean sales rejected the lead, per CRM (defaults as in a new org)."""

    hubspot: list[str] = Field(default_factory=lambda: ["UNQUALIFIED", "BAD_TIMING"])
    salesforce: list[str] = Field(default_factory=lambda: ["Closed - Not Converted"])


class StageValues(Spec):
    """CRM values of the canonical stages; `None` = the CRM has no such stage."""

    subscriber: str | None = None
    lead: str | None = None
    mql: str | None = None
    sal: str | None = None
    sql: str | None = None
    opportunity: str | None = None
    customer: str | None = None


def _hubspot_stages() -> StageValues:
    return StageValues(
        subscriber="subscriber",
        lead="lead",
        mql="marketingqualifiedlead",
        sql="salesqualifiedlead",
        opportunity="opportunity",
        customer="customer",
    )


def _salesforce_stages() -> StageValues:
    return StageValues(
        lead="Open - Not Contacted",
        mql="Marketing Qualified",
        sal="Working - Contacted",
        sql="Closed - Converted",
    )


class StageMaps(Spec):
    """Per-CRM values of the canonical stages: HubSpot's lifecycle stage, Salesforce's
    Lead Status (Contacts hold the canonical names in their own stage field).

    On Salesforce, `mql` is the status a promotion sets and `lead` the one a recycle sets;
    `sal`, `sql` (and any later stage given) are statuses sales sets, which mqlsync reads as
    those stages and never overwrites.
    """

    hubspot: StageValues = Field(default_factory=_hubspot_stages)
    salesforce: StageValues = Field(default_factory=_salesforce_stages)

    @field_validator("hubspot", "salesforce", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any, info: ValidationInfo) -> Any:
        """Keys given change those stages only; the others keep their defaults (as the
        commented defaults in the shipped mappings promise: uncomment a line to change it)."""
        if isinstance(value, dict):
            defaults = _hubspot_stages if info.field_name == "hubspot" else _salesforce_stages
            return {**defaults().model_dump(), **value}
        return value


class Sla(Spec):
    """SLA windows in hours."""

    handoff_hours: Annotated[float, Field(gt=0)] = 24
    first_touch_hours: Annotated[float, Field(gt=0)] = 4
    disposition_hours: Annotated[float, Field(gt=0)] = 48
    create_task_on_breach: bool = False


class Lifecycle(Spec):
    """Recycle and SLA policy; separate from scoring rules so it never changes a score."""

    rejected_statuses: RejectedStatuses = Field(default_factory=RejectedStatuses)
    rejection_reason_field: str | None = None
    stale_after_days: Annotated[float, Field(gt=0)] = 14
    cooldown_days: Annotated[float, Field(ge=0)] = 30
    stages: StageMaps = Field(default_factory=StageMaps)
    hubspot_accepted_statuses: list[str] = Field(
        default_factory=lambda: ["IN_PROGRESS", "CONNECTED", "OPEN_DEAL"]
    )
    """HubSpot has no SAL stage: an MQL with one of these lead statuses is sales-accepted."""
    salesforce_mql_status: str | None = None
    """Older name of `stages.salesforce.mql`; wins when set."""
    salesforce_recycle_status: str | None = None
    """Older name of `stages.salesforce.lead`; wins when set."""
    salesforce_promotable_statuses: list[str] = Field(
        default_factory=lambda: ["Open - Not Contacted"]
    )
    sla: Sla = Field(default_factory=Sla)

    @model_validator(mode="after")
    def _salesforce_statuses_set(self) -> Lifecycle:
        missing = [s for s in ("lead", "mql") if not getattr(self.lead_statuses, s)]
        if missing:
            raise ValueError(
                f"[lifecycle.stages.salesforce] needs {' and '.join(missing)}: the Lead Status "
                "a promotion (mql) and a recycle (lead) set"
            )
        return self

    @property
    def lead_statuses(self) -> StageValues:
        """Salesforce Lead Status per canonical stage, the older single keys applied."""
        update = {}
        if self.salesforce_mql_status:
            update["mql"] = self.salesforce_mql_status
        if self.salesforce_recycle_status:
            update["lead"] = self.salesforce_recycle_status
        return self.stages.salesforce.model_copy(update=update)

    def rejected_for(self, crm: str) -> frozenset[str]:
        """Lead statuses (casefolded) that mean sales rejected an MQL in `crm`."""
        return frozenset(s.casefold() for s in getattr(self.rejected_statuses, crm, []))

    def promotable_for(self, crm: str, obj: str) -> frozenset[str] | None:
        """Lead statuses (casefolded) a record of `obj` in `crm` must have to be promoted
        to MQL, or None when any status may be (Salesforce Leads carry their stage in
        Status, so only an open status may become MQL)."""
        if (crm, obj) == ("salesforce", "lead"):
            return frozenset(s.casefold() for s in self.salesforce_promotable_statuses)
        return None


def _hubspot_fields() -> dict[str, str]:
    return {
        "email": "email",
        "jobtitle": "title",
        "company": "company",
        "numberofemployees": "employees",
        "industry": "industry",
        "annualrevenue": "annual_revenue",
        "country": "country",
        "lifecyclestage": "lifecycle_stage",
        "hs_lead_status": "lead_status",
        "hs_email_optout": "email_opt_out",
        "hs_analytics_source": "source",
        "createdate": "created_at",
        "tech_stack": "tech_stack",
        "hubspot_owner_id": "owner",
    }


def _salesforce_fields() -> dict[str, str]:
    return {
        "Email": "email",
        "Title": "title",
        "Company": "company",
        "NumberOfEmployees": "employees",
        "Industry": "industry",
        "AnnualRevenue": "annual_revenue",
        "Country": "country",
        "LeadSource": "source",
        "Status": "lead_status",
        "HasOptedOutOfEmail": "email_opt_out",
        "CreatedDate": "created_at",
        "OwnerId": "owner",
    }


class SourceFields(Spec):
    """CRM field name → canonical property name, per CRM (defaults: the standard fields)."""

    hubspot: dict[str, str] = Field(default_factory=_hubspot_fields)
    salesforce: dict[str, str] = Field(default_factory=_salesforce_fields)


class RollupActivity(Spec):
    """A HubSpot contact rollup that becomes one activity at its companion date.

    Entries are tried in file order and the first one that applies to a `date_property`
    wins, so specific entries (a conversion named "Demo…") go before the general one.
    """

    date_property: str
    type: str
    detail: dict[str, str] = Field(default_factory=dict)
    """Activity detail key → contact property that supplies its value."""
    when_property: str | None = None
    when_contains: list[str] | None = None
    """Only when `when_property` contains one of these texts (case-insensitive)."""


def _hubspot_rollups() -> list[RollupActivity]:
    conversion = "recent_conversion_event_name"
    first = "first_conversion_event_name"
    rollups = []
    for date, name in (("recent_conversion_date", conversion), ("first_conversion_date", first)):
        for kind, words in (
            ("demo_request", ["demo"]),
            ("trial_signup", ["trial"]),
            ("webinar_registration", ["webinar"]),
            ("content_download", ["case study", "ebook", "whitepaper", "guide"]),
        ):
            rollups.append(
                RollupActivity(
                    date_property=date,
                    type=kind,
                    detail={"name": name},
                    when_property=name,
                    when_contains=words,
                )
            )
        rollups.append(
            RollupActivity(date_property=date, type="form_submission", detail={"form": name})
        )
    rollups += [
        RollupActivity(
            date_property="hs_analytics_last_visit_timestamp",
            type="page_view",
            detail={"url": "hs_analytics_last_url"},
        ),
        RollupActivity(
            date_property="hs_analytics_first_visit_timestamp",
            type="page_view",
            detail={"url": "hs_analytics_first_url"},
        ),
        RollupActivity(date_property="hs_email_last_open_date", type="email_open"),
        RollupActivity(date_property="hs_email_last_click_date", type="email_click"),
        RollupActivity(date_property="hs_sales_email_last_replied", type="email_reply"),
    ]
    return rollups


class SourceActivities(Spec):
    """Extra activity sources beyond engagement objects, per CRM (defaults: HubSpot's
    rollup properties)."""

    hubspot: list[RollupActivity] = Field(default_factory=_hubspot_rollups)


class MappingSpec(Spec):
    """A whole mapping file."""

    mapping: MappingInfo
    qualification: Qualification
    grades: Grades | None = None
    decay: Decay | None = None
    categories: dict[str, Category] = Field(default_factory=dict)
    rules: list[Rule]
    gates: list[Gate] = Field(default_factory=list)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    source_fields: SourceFields = Field(default_factory=SourceFields)
    source_activities: SourceActivities = Field(default_factory=SourceActivities)

    def known_properties(self) -> frozenset[str]:
        """Canonical names, targets of this mapping's CRM field maps, declared customs."""
        mapped = {*self.source_fields.hubspot.values(), *self.source_fields.salesforce.values()}
        return CANONICAL_PROPERTIES | mapped | frozenset(self.mapping.custom_properties)

    def known_activity_types(self) -> frozenset[str]:
        """The canonical vocabulary plus this mapping's declared custom types."""
        return ACTIVITY_TYPES | frozenset(self.mapping.custom_activity_types)

    @property
    def reads_account(self) -> bool:
        """True when a rule or gate tests the record's account (its fields or buying
        group): reading accounts costs API calls, so adapters read them only then."""

        def walk(cond: Condition) -> bool:
            if cond.account is not None:
                return True
            return any(walk(c) for c in (cond.any or cond.all or ()))

        return any(walk(r) for r in (*self.rules, *self.gates))
