"""The rule file model: one YAML file per recommendation in ``cards/rules/``.

A rule says, in a clinician's words, when it applies (``conditions`` on profile field names), what the
card says, and where that comes from. The model refuses unknown keys so a typo in a rule file stops
the service at start instead of silently changing what clinicians see.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _absolute_url(value: str) -> str:
    """Checked as an http(s) URL but kept exactly as written: code systems are compared verbatim."""
    HttpUrl(value)
    return value


AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRef(_Strict):
    label: Text
    url: AbsoluteUrl


class Evidence(_Strict):
    """Where the recommendation comes from and how far the seed documents carry it."""

    note: Text
    seed_documents: list[Literal["CCS", "DO"]] = Field(
        default_factory=list,
        description="CCS = Canadian Cancer Society stage 4 page; DO = Dr.Oracle/NCCN summary",
    )
    beyond_seed_documents: bool = False
    trials: list[Text] = Field(default_factory=list)
    unverified: list[Text] = Field(default_factory=list, description="statements still to be confirmed")


class CardText(_Strict):
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=139)]
    indicator: Literal["info", "warning", "critical"]
    detail: Text


class OrderSuggestion(_Strict):
    """A suggestion whose action proposes ordering a test (a FHIR ServiceRequest)."""

    label: Text
    code_system: AbsoluteUrl = "http://loinc.org"
    code: Text
    display: Text


class OverrideReason(_Strict):
    code: Text
    system: AbsoluteUrl
    display: Text


Scalar = str | int
ConditionValue = Scalar | list[Scalar] | dict[str, Scalar | list[Scalar]]

#: How a rule's card is grouped (cds.pathway.render): one card per group.
CardGroup = Literal["warning", "therapy", "test", "supportive"]
_GROUP_OF_CATEGORY: dict[str, CardGroup] = {
    "data-gap": "warning",
    "safety": "warning",
    "testing": "test",
    "bone": "supportive",
    "local": "supportive",
    "supportive": "supportive",
    "trials": "supportive",
}


def card_group(category: str) -> CardGroup:
    return _GROUP_OF_CATEGORY.get(category, "therapy")


class AfterProgression(_Strict):
    """The next line once the disease has progressed on (any of) these classes or agents."""

    after_progression_on: Annotated[list[Text], Field(min_length=1)]
    or_relapse_within_year: bool = Field(
        False,
        description="also at a relapse during or within 12 months of (neo)adjuvant therapy of these "
        "(relapse_within_year_after), where the cited guideline treats it as a progression (ASCO HER2+ "
        "2022, Recommendation 5.0); an early relapse of the shorter windows is a progression anyway",
    )


DecisionPoint = Literal["first_line", "initial_endocrine", "any_time"] | AfterProgression
Preference = Literal["preferred", "other_recommended", "certain_circumstances"]
#: What an endocrine option is given with besides its drugs (``Rule.suppression``).
Suppression = Literal["ovarian", "ovarian_and_gnrh"]


class Exclusion(_Strict):
    """A finding on the journey that rules the option out, in a clinician's words and as conditions.

    ``safety: true`` exclusions (lung disease, diabetes, heart function, QT) are named on the warnings
    card, so the clinician sees why an option that would otherwise fit is not offered.
    """

    reason: Text
    conditions: dict[str, ConditionValue]
    safety: bool = False


class Caution(_Strict):
    """A finding that does not rule the option out but that the clinician should weigh before it (a
    label's warning, no trial evidence after a related drug): shown beside the option when it holds."""

    reason: Text
    conditions: dict[str, ConditionValue]
    demotes: bool = False  # while it holds, the option is not put first (the guideline prefers another)


class Rule(_Strict):
    id: RuleId
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
    status: Literal["draft", "active", "retired"]
    title: Text
    category: Literal[
        "endocrine",
        "cdk4-6",
        "chemotherapy",
        "her2",
        "targeted",
        "parp",
        "immunotherapy",
        "antibody-drug-conjugate",
        "bone",
        "local",
        "supportive",
        "trials",
        "data-gap",
        "safety",
        "testing",
    ]
    applies_to: Literal["metastatic_breast_cancer", "breast_cancer", "any"] = Field(
        "metastatic_breast_cancer",
        description="metastatic_breast_cancer rules need breast cancer AND metastatic = yes; breast_cancer "
        "rules need breast cancer; any (warnings only) are weighed also when no breast cancer is found, "
        "to say why there is no advice",
    )
    when: Text = Field(description="plain-language When, for clinical review")
    then: Text = Field(description="plain-language Then, for clinical review")
    conditions: dict[str, ConditionValue] = Field(default_factory=dict)
    any_of: list[dict[str, ConditionValue]] = Field(default_factory=list)
    decision_point: DecisionPoint | None = Field(
        None,
        description=(
            "therapy rules: first_line, initial_endocrine, {after_progression_on: [...]} or any_time"
        ),
    )
    preference: Preference | None = Field(
        None, description="therapy rules: the cited guideline's category; orders the options"
    )
    yields_to: list[RuleId] = Field(
        default_factory=list,
        description="therapy rules: options the cited guideline prefers to this one; when one of them is "
        "offered too, this one is listed after it, as other recommended at best",
    )
    replaced_by: list[RuleId] = Field(
        default_factory=list,
        description="therapy rules: options that take this one's place; when one of them is offered, "
        "this one is not shown (the visceral-crisis chemotherapy when chemotherapy is offered anyway)",
    )
    yields_unless: list[dict[str, ConditionValue]] = Field(
        default_factory=list,
        description="therapy rules: groups of conditions; when one of them holds, the guideline's "
        "preference for the yields_to options does not apply (this option keeps its place)",
    )
    option: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = (
        Field(
            None,
            description="therapy rules: the option's line on the card, e.g. 'Fulvestrant + CDK4/6 inhibitor'",
        )
    )
    suppression: Suppression | None = Field(
        None,
        description="endocrine therapy rules: what the option is given with besides its drugs, written after "
        "its line for the patient at hand: 'ovarian', ovarian suppression for a woman not confirmed "
        "postmenopausal; 'ovarian_and_gnrh', that and, for a man, a GnRH analogue alongside an aromatase "
        "inhibitor, when the option may give one (cds.pathway.labels.option_line)",
    )
    family: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = (
        Field(
            None,
            description="therapy rules: the drug family the option belongs to, e.g. 'Oral SERD "
            "(ESR1-mutated)': options of one family listed next to each other with the same preference "
            "are one numbered option on the card, each a line under it (a family has two or more rules, "
            "placed next to each other in option-order.yaml)",
        )
    )
    regimen: list[Text] = Field(
        default_factory=list,
        description="therapy rules: the classes or agents the option gives together; never offered when all "
        "of them are current, progressed on or stopped for side effects, nor when the patient is on or "
        "progressed on one of its medicines (unless continues_current; a class leaves the choice of "
        "medicine open, and a medicine its decision point follows progression on is continued by design)",
    )
    regimen_alternatives: bool = Field(
        False,
        description="therapy rules: the regimen's classes or agents are alternatives, one of them given "
        "(chemotherapy: a taxane, capecitabine or eribulin): offered while one of them has not failed",
    )
    continues_current: bool = Field(False, description="the guideline says to continue this therapy")
    listed_as_note: bool = Field(
        False,
        description="therapy rules: written after the numbered options as a sentence of its own, not "
        "numbered or counted, when other options are listed (a choice made on what the chart does not code: "
        "chemotherapy for visceral crisis); still a suggestion of its own",
    )
    exclusions: list[Exclusion] = Field(default_factory=list)
    cautions: list[Caution] = Field(
        default_factory=list, description="therapy rules: findings shown beside the option, not ruling it out"
    )
    card: CardText
    suggestions: list[OrderSuggestion] = Field(default_factory=list)
    override_reasons: list[OverrideReason] = Field(default_factory=list)
    sources: Annotated[list[SourceRef], Field(min_length=1)]
    evidence: Evidence

    @property
    def follows_progression_on(self) -> frozenset[str]:
        """The classes or agents its decision point follows progression on (none for another point)."""
        point = self.decision_point
        return frozenset(point.after_progression_on) if isinstance(point, AfterProgression) else frozenset()
