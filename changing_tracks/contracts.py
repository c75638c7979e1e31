"""Data contracts: every table the programme collects, defined once.

Loaders, validation, the sample generator and ``docs/data-dictionary.md`` all
read these definitions, so a column, type or allowed value is changed here and
nowhere else.

Each :class:`Table` lists its :class:`Column` s with their type, whether they
are required, the values allowed (for categories), the accepted spellings of
the header (``aliases``) and of the values (``value_aliases``), and the key
that must be unique.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Column",
    "Table",
    "TABLES",
    "WAVES",
    "INSTRUMENTS",
    "WEMWBS_ITEMS",
    "SWEMWBS_ITEMS",
    "WEMWBS_RESPONSE_LABELS",
    "AUDIT_SECTIONS",
    "AUDIT_RATING_LABELS",
    "AUDIT_STATUSES",
    "OUTCOME_DOMAINS",
    "OUTCOME_WAVES",
    "OUTCOME_RATING_LABELS",
    "ACTIVITY_TYPES",
    "SETTINGS",
    "SEX_VALUES",
    "ETHNICITY_GROUPS",
    "SEN_VALUES",
    "STATUSES",
    "PROGRESSION_ROUTES",
    "PHASES",
    "CHARACTERISTICS",
    "STAGES",
    "STAGE_AREAS",
    "TUTOR_ROLES",
    "CONTRACT_TYPES",
    "GENRES",
    "PRACTICES",
    "CPD_TOPICS",
    "CPD_FORMATS",
    "normalise_header",
    "normalise_value",
    "programme_year",
    "year_group_phase",
    "programme_year_of",
]

# --------------------------------------------------------------------------
# Vocabularies (canonical values, in the order reports show them)
# --------------------------------------------------------------------------

#: Survey waves for wellbeing and the audit.
WAVES: tuple[str, ...] = ("baseline", "follow-up")

#: Wellbeing instruments.
INSTRUMENTS: tuple[str, ...] = ("WEMWBS", "SWEMWBS")

#: WEMWBS item keys in questionnaire order (item 1 … item 14). Keys only: the
#: item wording is copyright and is never shipped.
WEMWBS_ITEMS: tuple[str, ...] = (
    "optimistic",
    "useful",
    "relaxed",
    "interested_in_others",
    "energy",
    "dealing_with_problems",
    "thinking_clearly",
    "good_about_self",
    "close_to_others",
    "confident",
    "own_mind",
    "loved",
    "interested_in_new_things",
    "cheerful",
)

#: The seven SWEMWBS items (WEMWBS items 1, 2, 3, 6, 7, 9, 11).
SWEMWBS_ITEMS: tuple[str, ...] = tuple(WEMWBS_ITEMS[i - 1] for i in (1, 2, 3, 6, 7, 9, 11))

#: Response labels accepted in place of the numbers 1-5.
WEMWBS_RESPONSE_LABELS: dict[str, int] = {
    "None of the time": 1,
    "Rarely": 2,
    "Some of the time": 3,
    "Often": 4,
    "All of the time": 5,
}

#: Youth Music ED&I self-assessment sections.
AUDIT_SECTIONS: dict[int, str] = {
    1: "Embedding equality, diversity and inclusion",
    2: "Organisational policies and procedures",
    3: "Programming policies and procedures",
}

#: Audit rating labels accepted in place of 1-3.
AUDIT_RATING_LABELS: dict[str, int] = {"Not met": 1, "Partially met": 2, "Fully met": 3}

#: Status of one audit rating.
AUDIT_STATUSES: tuple[str, ...] = ("rated", "not rated", "not applicable")

#: Outcome domains, valued equally by the programme.
OUTCOME_DOMAINS: tuple[str, ...] = ("personal", "social", "musical")

#: Points at which tutors rate outcomes, in time order.
OUTCOME_WAVES: tuple[str, ...] = ("baseline", "interim", "follow-up")

#: Tutor rating scale for outcome indicators (1-5).
OUTCOME_RATING_LABELS: dict[int, str] = {
    1: "Not yet",
    2: "Emerging",
    3: "Developing",
    4: "Secure",
    5: "Strong",
}

ACTIVITY_TYPES: tuple[str, ...] = (
    "whole class ensemble teaching",
    "small-group tuition",
    "individual tuition",
    "ensemble",
    "singing",
    "nurture group",
    "holiday project",
    "mentoring",
)

SETTINGS: tuple[str, ...] = (
    "primary school",
    "secondary school",
    "special school",
    "alternative provision",
    "community",
)

SEX_VALUES: tuple[str, ...] = ("female", "male")

#: GSS harmonised ethnicity major groups (no "BAME" aggregate).
ETHNICITY_GROUPS: tuple[str, ...] = ("asian", "black", "mixed", "white", "other")

#: Special educational needs provision (none, SEN support, EHC plan).
SEN_VALUES: tuple[str, ...] = ("none", "sen support", "ehc plan")

#: What became of a participant by the end of the year.
STATUSES: tuple[str, ...] = ("active", "completed", "withdrew")

#: Progression into regular music-service provision.
PROGRESSION_ROUTES: tuple[str, ...] = ("none", "lessons", "ensemble", "music centre", "other")

#: School phase of a population benchmark.
PHASES: tuple[str, ...] = ("primary", "secondary", "special", "all")

#: Participant characteristics compared with population benchmarks. Each maps
#: to (participants column, value that counts as having the characteristic).
CHARACTERISTICS: dict[str, tuple[str, object]] = {
    "fsm": ("fsm", True),
    "sen_support": ("sen", "sen support"),
    "ehc_plan": ("sen", "ehc plan"),
    "looked_after": ("looked_after", True),
    "young_carer": ("young_carer", True),
    "eal": ("eal", True),
    "sex_female": ("sex", "female"),
    "sex_male": ("sex", "male"),
    **{f"ethnicity_{g}": ("ethnicity", g) for g in ETHNICITY_GROUPS},
}

#: Changing Tracks "Stages and indicators of inclusion": stages in order.
STAGES: tuple[str, ...] = ("exclusion", "segregation", "integration", "inclusion")

#: Areas in which a service places itself on the stages.
STAGE_AREAS: tuple[str, ...] = ("pupil voice", "settings", "workforce", "progression routes",
                                "recruitment", "CPD", "funding")

#: Tutors' roles and contracts.
TUTOR_ROLES: tuple[str, ...] = ("instrumental tutor", "project lead", "manager",
                                "young music leader", "other")
CONTRACT_TYPES: tuple[str, ...] = ("salaried", "hourly", "freelance")

#: Genres and practices taught (the "Diverse" principle).
GENRES: tuple[str, ...] = ("classical", "jazz", "rock and pop", "folk and traditional",
                           "global", "hip hop and grime", "electronic", "musical theatre",
                           "gospel and choral", "other")
PRACTICES: tuple[str, ...] = ("instrumental teaching", "whole class ensemble", "singing",
                              "songwriting", "music technology", "improvisation",
                              "ensemble direction", "community music", "SEND and inclusive practice",
                              "mentoring", "other")

#: CPD and reflective-practice topics (from the 2019-20 learning report).
CPD_TOPICS: tuple[str, ...] = ("critical reflection group", "mental health",
                               "music therapy approaches", "SEMH and behaviour",
                               "music technology", "songwriting", "student-led learning",
                               "evaluation methods", "project management",
                               "inclusion training", "other")
CPD_FORMATS: tuple[str, ...] = ("online", "in person")

# Spellings users write, mapped to canonical values (compared after
# :func:`normalise_value`).
_YES_NO = {
    "yes": True, "y": True, "true": True, "1": True, "eligible": True,
    "no": False, "n": False, "false": False, "0": False, "not eligible": False,
}
_UNKNOWN = ("", "unknown", "not known", "not recorded", "refused", "prefer not to say",
            "unclassified", "information not obtained", "na", "n a", "nan", "none recorded")

# --------------------------------------------------------------------------
# Normalisation shared by loaders and validation
# --------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_header(text: object) -> str:
    """Header as compared: lower case, letters and digits only ("Participant ID" → "participantid")."""
    return _NON_ALNUM.sub("", str(text).strip().lower())


def normalise_value(text: object) -> str:
    """Category value as compared: lower case, punctuation and runs of spaces folded to one space."""
    return _NON_ALNUM.sub(" ", str(text).strip().lower()).strip()


_YEAR = re.compile(r"^\s*(\d{4})\s*[-/–]\s*(\d{2}|\d{4})\s*$")


def programme_year(text: object) -> str | None:
    """Canonical programme (academic) year "2019-20" from "2019-20", "2019/20" or "2019-2020".

    Returns None when the text is not a year span of two consecutive years.
    """
    match = _YEAR.match(str(text))
    if not match:
        return None
    start, end = int(match.group(1)), match.group(2)
    following = str(start + 1)
    if end != (following if len(end) == 4 else following[-2:]):
        return None
    return f"{start}-{following[-2:]}"


def year_group_phase(year_group: int | None) -> str | None:
    """School phase of a year group: 0 (Reception)-6 primary, 7-13 secondary."""
    if year_group is None:
        return None
    return "primary" if year_group <= 6 else "secondary"


# --------------------------------------------------------------------------
# Column and table definitions
# --------------------------------------------------------------------------

#: Column kinds and what a loader turns them into.
KINDS: dict[str, str] = {
    "id": "an identifier (text, not a name)",
    "text": "free text",
    "category": "one of the allowed values",
    "integer": "a whole number",
    "number": "a number",
    "share": "a proportion from 0 to 1, or a percentage such as 24.6%",
    "date": "a date such as 2020-07-15 or 15/07/2020 (day first)",
    "boolean": "yes or no (blank or 'unknown' if not recorded)",
    "year": "a programme year such as 2019-20",
    "list": "one or more of the allowed values, separated by semicolons",
    "rating": "1, 2 or 3 (or Not met / Partially met / Fully met), N/A, or blank",
}


@dataclass(frozen=True)
class Column:
    """One column of a table: name, kind, rules and accepted spellings."""

    name: str
    kind: str
    description: str
    required: bool = True
    nullable: bool = False
    allowed: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    aliases: tuple[str, ...] = ()
    value_aliases: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r}")

    @property
    def header_spellings(self) -> tuple[str, ...]:
        """Normalised headers that name this column."""
        return tuple(dict.fromkeys(normalise_header(h) for h in (self.name, *self.aliases)))

    def expected(self) -> str:
        """What a value should look like, in words, for error messages and the dictionary."""
        if self.kind == "category":
            return "one of: " + ", ".join(str(a) for a in self.allowed)
        if self.kind == "list":
            return "values separated by semicolons, each one of: " + ", ".join(self.allowed)
        if self.kind in ("integer", "number", "rating") and self.minimum is not None:
            lo = f"{self.minimum:g}"
            hi = f"{self.maximum:g}" if self.maximum is not None else "…"
            return f"a whole number from {lo} to {hi}" if self.kind != "number" else f"a number from {lo} to {hi}"
        return KINDS[self.kind]


@dataclass(frozen=True)
class Table:
    """A data set: its default file name, description, columns and unique key."""

    name: str
    file: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _cat(values, extra: dict | None = None) -> dict:
    """Value aliases for a category: each value's own normalised spelling, plus extras."""
    mapping = {normalise_value(v): v for v in values}
    for k, v in (extra or {}).items():
        mapping[normalise_value(k)] = v
    return mapping


_SERVICE = Column(
    "service", "id",
    "Partner music service: its id, name or one of its aliases in the services table "
    "(read as the id).",
    aliases=("music service", "service id", "partner", "organisation", "hub"),
)
_PARTICIPANT = Column(
    "participant", "id",
    "Pseudonymous participant id issued by the service (never a name). Used only to link "
    "tables; never published.",
    aliases=("participant id", "pupil id", "young person id", "student id", "pseudonym", "upn id"),
)
_YEAR_COL = Column(
    "year", "year", "Programme (academic) year, September to August, written 2019-20.",
    aliases=("programme year", "academic year", "school year"),
)

SERVICES = Table(
    "services", "services.csv",
    "The partner music services, with the names and abbreviations used for them in other files.",
    (
        Column("service", "id", "Short id used in every other table (e.g. hertfordshire).",
               aliases=("service id", "id")),
        Column("name", "text", "Full name (e.g. Hertfordshire Music Service).",
               aliases=("service name",)),
        Column("aliases", "text",
               "Other names the service goes by in data files, separated by semicolons "
               "(e.g. Herts; HMS).", required=False, nullable=True),
        Column("local_authority", "text",
               "Local authority whose population benchmarks apply (matches benchmarks).",
               aliases=("la", "local authority name")),
        Column("region", "text", "English region.", required=False, nullable=True),
        Column("cohort", "integer", "Year the service joined Changing Tracks.",
               minimum=2018, maximum=2035, aliases=("year joined", "joined")),
        Column("focus", "text", "Focus of the service's action research.", required=False,
               nullable=True),
    ),
    key=("service",),
)

AUDIT_STATEMENTS = Table(
    "audit_statements", "audit_statements.csv",
    "The statements of the Youth Music ED&I self-assessment tool (61 in three sections).",
    (
        Column("statement", "id", "Statement reference, e.g. 1.01.",
               aliases=("ref", "reference", "statement ref", "statement reference", "no")),
        Column("section", "integer",
               "Section: 1 " + AUDIT_SECTIONS[1] + "; 2 " + AUDIT_SECTIONS[2] + "; 3 "
               + AUDIT_SECTIONS[3] + ".", minimum=1, maximum=3),
        Column("text", "text", "Statement wording.", aliases=("statement text", "wording")),
    ),
    key=("statement",),
)

AUDIT_RATINGS = Table(
    "audit_ratings", "audit/",
    "One rater's rating of one audit statement at one wave. Usually read from a folder of "
    "Youth Music workbooks (one per service, wave and rater); `audit_ratings.csv` with these "
    "columns also loads.",
    (
        _SERVICE,
        Column("wave", "category", "Audit round: baseline (July 2019) or follow-up (2020).",
               allowed=WAVES, value_aliases=_cat(WAVES, {"pre": "baseline", "post": "follow-up",
                                                        "follow up": "follow-up",
                                                        "followup": "follow-up",
                                                        "t1": "baseline", "t2": "follow-up"})),
        Column("rater", "id", "Who rated (a role or initials, not a full name).",
               aliases=("completed by", "rated by", "assessor")),
        Column("statement", "id", "Statement reference (matches audit_statements).",
               aliases=("ref", "reference", "statement ref", "statement reference")),
        Column("rating", "rating",
               "1 = not met, 2 = partially met, 3 = fully met (or those words); blank means "
               "not rated, N/A means not applicable.", nullable=True, minimum=1, maximum=3,
               aliases=("score", "rating 1 3", "rating 13")),
        Column("status", "category",
               "Derived by the loader from the rating: rated, not rated or not applicable.",
               required=False, allowed=AUDIT_STATUSES, value_aliases=_cat(AUDIT_STATUSES)),
        Column("date", "date", "Date the rater completed the workbook.", required=False,
               nullable=True, aliases=("date completed", "completed on")),
        Column("comment", "text", "Comments and evidence.", required=False, nullable=True,
               aliases=("comments", "evidence", "comments evidence", "comments and evidence",
                        "notes")),
    ),
    key=("service", "wave", "rater", "statement"),
)

_ITEM_COLUMNS = tuple(
    Column(
        key, "integer",
        f"WEMWBS item {i}" + (" (also a SWEMWBS item)" if key in SWEMWBS_ITEMS else "")
        + ": 1-5 or the response label (None of the time … All of the time); blank if not "
          "answered" + ("." if key in SWEMWBS_ITEMS else "; blank for SWEMWBS."),
        required=key in SWEMWBS_ITEMS, nullable=True, minimum=1, maximum=5,
        aliases=(f"item {i}", f"item{i}", f"q{i}", f"wemwbs {i}", f"wemwbs{i}",
                 f"wemwbs item {i}", key.replace("_", " ")),
        value_aliases={normalise_value(k): v for k, v in WEMWBS_RESPONSE_LABELS.items()},
    )
    for i, key in enumerate(WEMWBS_ITEMS, start=1)
)

WELLBEING = Table(
    "wellbeing", "wellbeing.csv",
    "WEMWBS or SWEMWBS questionnaires, one row per completed questionnaire. Items are "
    "columns named by their key (item wording is copyright and not stored).",
    (
        Column("response", "id", "Questionnaire id, unique in the file.",
               aliases=("response id", "questionnaire id", "record id")),
        _PARTICIPANT,
        _SERVICE,
        _YEAR_COL,
        Column("wave", "category", "baseline (start of the project) or follow-up (end).",
               allowed=WAVES, value_aliases=_cat(WAVES, {"pre": "baseline", "post": "follow-up",
                                                        "follow up": "follow-up",
                                                        "followup": "follow-up",
                                                        "t1": "baseline", "t2": "follow-up",
                                                        "start": "baseline", "end": "follow-up"})),
        Column("date", "date", "Date the questionnaire was completed.",
               aliases=("date completed", "completed on", "survey date")),
        Column("instrument", "category", "WEMWBS (14 items) or SWEMWBS (7 items).",
               allowed=INSTRUMENTS,
               value_aliases=_cat(INSTRUMENTS, {"short wemwbs": "SWEMWBS",
                                                "warwick edinburgh": "WEMWBS"}),
               aliases=("scale", "questionnaire")),
        Column("age", "integer", "Age in whole years when the questionnaire was completed.",
               minimum=5, maximum=25, aliases=("age years", "age at survey")),
        *_ITEM_COLUMNS,
    ),
    key=("response",),
)

_BOOL_ALIASES = {**_YES_NO}

PARTICIPANTS = Table(
    "participants", "participants.csv",
    "Young people taking part in a programme year, one row per participant and year, with "
    "the characteristics music services report to Arts Council England.",
    (
        _PARTICIPANT,
        _SERVICE,
        _YEAR_COL,
        Column("activity", "category", "Type of activity.", allowed=ACTIVITY_TYPES,
               aliases=("activity type", "programme", "project type"),
               value_aliases=_cat(ACTIVITY_TYPES, {
                   "wcet": "whole class ensemble teaching", "first access":
                   "whole class ensemble teaching", "group tuition": "small-group tuition",
                   "small group": "small-group tuition", "1 1": "individual tuition",
                   "one to one": "individual tuition", "individual": "individual tuition",
                   "choir": "singing", "holiday": "holiday project",
                   "nurture": "nurture group"})),
        Column("setting", "category", "Where the activity takes place.", allowed=SETTINGS,
               value_aliases=_cat(SETTINGS, {
                   "primary": "primary school", "secondary": "secondary school",
                   "special": "special school", "pru": "alternative provision",
                   "pupil referral unit": "alternative provision", "ap": "alternative provision",
                   "community setting": "community", "youth club": "community"})),
        Column("year_group", "integer", "School year group: 0 = Reception, 1-13 = Year 1-13 "
               "('Year 7', 'Y7' and 'R' are read too).", nullable=True, minimum=0, maximum=13,
               aliases=("year group", "ncy", "national curriculum year"),
               value_aliases={"r": 0, "reception": 0, "rec": 0,
                              **{f"year {n}": n for n in range(1, 14)},
                              **{f"y{n}": n for n in range(1, 14)},
                              **{f"yr {n}": n for n in range(1, 14)}}),
        Column("sex", "category", "Sex as recorded by the school census; blank if not recorded.",
               nullable=True, allowed=SEX_VALUES, aliases=("gender",),
               value_aliases=_cat(SEX_VALUES, {"f": "female", "m": "male", "girl": "female",
                                               "boy": "male"})),
        Column("ethnicity", "category",
               "GSS ethnicity major group; blank or 'unknown' if not recorded.",
               nullable=True, allowed=ETHNICITY_GROUPS, aliases=("ethnic group", "ethnicity group"),
               value_aliases=_cat(ETHNICITY_GROUPS, {
                   "asian or asian british": "asian", "asian british": "asian",
                   "asian asian british or asian welsh": "asian",
                   "black or black british": "black",
                   "black black british caribbean or african": "black",
                   "black black british black welsh caribbean or african": "black",
                   "mixed or multiple ethnic groups": "mixed", "mixed multiple ethnic groups": "mixed",
                   "any other ethnic group": "other", "other ethnic group": "other",
                   "chinese": "other"})),
        Column("fsm", "boolean", "Eligible for free school meals or Pupil Premium.",
               nullable=True, aliases=("free school meals", "pupil premium", "fsm pp", "pp",
                                       "fsm or pupil premium", "disadvantaged"),
               value_aliases=_BOOL_ALIASES),
        Column("sen", "category", "Special educational needs: none, SEN support or EHC plan.",
               nullable=True, allowed=SEN_VALUES, aliases=("send", "sen status", "sen provision"),
               value_aliases=_cat(SEN_VALUES, {"k": "sen support", "e": "ehc plan", "no": "none",
                                               "n": "none", "ehcp": "ehc plan",
                                               "statement": "ehc plan",
                                               "education health and care plan": "ehc plan"})),
        Column("looked_after", "boolean", "Looked after or previously looked after.",
               nullable=True, aliases=("lac", "cla", "looked after child", "care experienced"),
               value_aliases=_BOOL_ALIASES),
        Column("young_carer", "boolean", "Young carer.", nullable=True,
               value_aliases=_BOOL_ALIASES),
        Column("eal", "boolean", "English as an additional language.", nullable=True,
               aliases=("english as an additional language",), value_aliases=_BOOL_ALIASES),
        Column("start", "date", "Date the participant started this year's activity.",
               aliases=("start date", "date started")),
        Column("end", "date", "Date they finished or withdrew; blank if still taking part.",
               nullable=True, aliases=("end date", "date left", "date ended")),
        Column("status", "category", "active, completed or withdrew.", allowed=STATUSES,
               value_aliases=_cat(STATUSES, {"withdrawn": "withdrew", "left": "withdrew",
                                             "dropped out": "withdrew", "complete": "completed",
                                             "finished": "completed", "continuing": "active"})),
        Column("progression", "category",
               "Regular music-service provision the participant went on to; blank if not known.",
               nullable=True, allowed=PROGRESSION_ROUTES,
               value_aliases=_cat(PROGRESSION_ROUTES, {"no": "none", "lesson": "lessons",
                                                       "instrumental lessons": "lessons",
                                                       "music centre ensemble": "music centre",
                                                       "band": "ensemble", "choir": "ensemble"})),
    ),
    key=("participant", "year"),
)

ATTENDANCE = Table(
    "attendance", "attendance.csv",
    "Registers: one row per participant and session offered to them.",
    (
        _PARTICIPANT,
        Column("session_date", "date", "Date of the session.", aliases=("date", "session")),
        Column("attended", "boolean", "Whether the participant attended (yes/no, 1/0, present/absent).",
               aliases=("present", "attendance"),
               value_aliases={**_BOOL_ALIASES, "present": True, "absent": False, "p": True,
                              "a": False, "x": False, "/": True}),
    ),
    key=("participant", "session_date"),
)

OUTCOME_INDICATORS = Table(
    "outcome_indicators", "outcome_indicators.csv",
    "The outcomes framework: indicators of personal, social and musical development.",
    (
        Column("indicator", "id", "Indicator id, e.g. P1.", aliases=("indicator id", "id", "code")),
        Column("domain", "category", "personal, social or musical.", allowed=OUTCOME_DOMAINS,
               value_aliases=_cat(OUTCOME_DOMAINS)),
        Column("text", "text", "What the indicator describes.", aliases=("indicator text",
                                                                        "description")),
    ),
    key=("indicator",),
)

OUTCOME_RATINGS = Table(
    "outcome_ratings", "outcome_ratings.csv",
    "Tutor ratings of a participant on one outcome indicator at one point in the year.",
    (
        _PARTICIPANT,
        _SERVICE,
        _YEAR_COL,
        Column("wave", "category", "When the rating was made: baseline, interim or follow-up.",
               allowed=OUTCOME_WAVES,
               value_aliases=_cat(OUTCOME_WAVES, {"pre": "baseline", "start": "baseline",
                                                  "mid": "interim", "midpoint": "interim",
                                                  "mid point": "interim",
                                                  "post": "follow-up", "end": "follow-up",
                                                  "follow up": "follow-up",
                                                  "followup": "follow-up"})),
        Column("indicator", "id", "Indicator id (matches outcome_indicators).",
               aliases=("indicator id", "code")),
        Column("rating", "integer",
               "1-5: " + ", ".join(f"{k} {v}" for k, v in OUTCOME_RATING_LABELS.items()) + ".",
               minimum=1, maximum=5, aliases=("score",),
               value_aliases={normalise_value(v): k for k, v in OUTCOME_RATING_LABELS.items()}),
        Column("rater", "id", "Tutor who rated (pseudonymous).", aliases=("tutor", "rated by")),
        Column("date", "date", "Date of the rating.", required=False, nullable=True),
    ),
    key=("participant", "year", "wave", "indicator", "rater"),
)

BENCHMARKS = Table(
    "benchmarks", "benchmarks.csv",
    "Population shares for comparison (DfE school census and SEN statistics), per local "
    "authority and phase.",
    (
        Column("local_authority", "text", "Local authority (matches services).",
               aliases=("la", "la name", "local authority name")),
        Column("phase", "category", "School phase the share describes.", allowed=PHASES,
               value_aliases=_cat(PHASES, {"state funded primary": "primary",
                                           "state funded secondary": "secondary",
                                           "total": "all", "all schools": "all"})),
        Column("characteristic", "category", "Which characteristic the share is of.",
               allowed=tuple(CHARACTERISTICS), value_aliases=_cat(CHARACTERISTICS, {
                   "free school meals": "fsm", "fsm eligible": "fsm",
                   "ehcp": "ehc_plan", "sen support": "sen_support", "ehc plan": "ehc_plan",
                   "english as an additional language": "eal",
                   "looked after": "looked_after", "young carer": "young_carer",
                   "female": "sex_female", "male": "sex_male",
                   **{g: f"ethnicity_{g}" for g in ETHNICITY_GROUPS}})),
        Column("share", "share", "Share of pupils with the characteristic, 0-1 or a percentage.",
               minimum=0, maximum=1, aliases=("percentage", "percent", "proportion", "rate")),
        Column("source", "text", "Publication the figure comes from.",
               aliases=("publication",)),
        Column("source_year", "text", "Year of the publication's data (e.g. 2023/24); "
               "reports add it to the source unless the source already names it.",
               aliases=("data year", "year")),
    ),
    key=("local_authority", "phase", "characteristic"),
)

STAGES_TABLE = Table(
    "stages", "stages.csv",
    "Where a service places itself on the Changing Tracks stages of inclusion, per area and wave.",
    (
        _SERVICE,
        Column("wave", "category", "baseline or follow-up self-placement.", allowed=WAVES,
               value_aliases=_cat(WAVES, {"pre": "baseline", "post": "follow-up",
                                          "follow up": "follow-up", "followup": "follow-up"})),
        Column("area", "category", "Area of the service's work.", allowed=STAGE_AREAS,
               value_aliases=_cat(STAGE_AREAS, {"youth voice": "pupil voice",
                                                "student voice": "pupil voice",
                                                "progression": "progression routes",
                                                "training": "CPD",
                                                "continuing professional development": "CPD"})),
        Column("stage", "category", "Stage: exclusion, segregation, integration or inclusion.",
               allowed=STAGES, value_aliases=_cat(STAGES, {"excluded": "exclusion",
                                                           "segregated": "segregation",
                                                           "integrated": "integration",
                                                           "inclusive": "inclusion"})),
        Column("placed_by", "text", "Who placed the service (a role, e.g. senior leadership team).",
               aliases=("placed by", "who", "completed by")),
        Column("date", "date", "Date of the self-placement.", required=False, nullable=True),
        Column("comment", "text", "Why this stage; evidence.", required=False, nullable=True,
               aliases=("comments", "evidence", "notes")),
    ),
    key=("service", "wave", "area"),
)

TUTORS = Table(
    "tutors", "tutors.csv",
    "The music-service workforce on inclusion work: pseudonymous tutors per service and year, "
    "with optional characteristics for comparison with the community served.",
    (
        Column("tutor", "id", "Pseudonymous tutor id (never a name).",
               aliases=("tutor id", "staff id", "music leader")),
        _SERVICE,
        _YEAR_COL,
        Column("role", "category", "Role.", allowed=TUTOR_ROLES,
               value_aliases=_cat(TUTOR_ROLES, {"tutor": "instrumental tutor",
                                                "music leader": "instrumental tutor",
                                                "teacher": "instrumental tutor",
                                                "lead": "project lead", "trainee":
                                                "young music leader", "yml": "young music leader"})),
        Column("contract", "category", "Contract type.", allowed=CONTRACT_TYPES,
               aliases=("contract type", "employment"),
               value_aliases=_cat(CONTRACT_TYPES, {"employed": "salaried", "permanent":
                                                   "salaried", "sessional": "hourly",
                                                   "self employed": "freelance"})),
        Column("genres", "list", "Genres and styles they teach.", nullable=True, allowed=GENRES,
               aliases=("genre", "styles"),
               value_aliases=_cat(GENRES, {"pop": "rock and pop", "rock": "rock and pop",
                                           "folk": "folk and traditional", "world": "global",
                                           "hip hop": "hip hop and grime", "grime": "hip hop and grime",
                                           "rap": "hip hop and grime", "edm": "electronic",
                                           "choral": "gospel and choral", "gospel": "gospel and choral"})),
        Column("practices", "list", "Practices they use.", nullable=True, allowed=PRACTICES,
               aliases=("practice",),
               value_aliases=_cat(PRACTICES, {"send": "SEND and inclusive practice",
                                              "inclusive practice": "SEND and inclusive practice",
                                              "music tech": "music technology",
                                              "wcet": "whole class ensemble"})),
        Column("ethnicity", "category", "GSS ethnicity major group (optional).", required=False,
               nullable=True, allowed=ETHNICITY_GROUPS, aliases=("ethnic group",),
               value_aliases=_cat(ETHNICITY_GROUPS)),
        Column("sex", "category", "Sex (optional).", required=False, nullable=True,
               allowed=SEX_VALUES, aliases=("gender",),
               value_aliases=_cat(SEX_VALUES, {"f": "female", "m": "male", "woman": "female",
                                               "man": "male"})),
        Column("disability", "boolean", "Disabled (optional).", required=False, nullable=True,
               aliases=("disabled",), value_aliases=_YES_NO),
    ),
    key=("tutor", "year"),
)

CPD = Table(
    "cpd", "cpd.csv",
    "CPD and reflective-practice sessions tutors took part in.",
    (
        Column("tutor", "id", "Pseudonymous tutor id (matches tutors).", aliases=("tutor id",
                                                                                  "staff id")),
        Column("date", "date", "Date of the session.", aliases=("session date",)),
        Column("topic", "category", "What the session covered.", allowed=CPD_TOPICS,
               value_aliases=_cat(CPD_TOPICS, {"critical reflection": "critical reflection group",
                                               "reflective practice": "critical reflection group",
                                               "semh": "SEMH and behaviour",
                                               "behaviour": "SEMH and behaviour",
                                               "music tech": "music technology",
                                               "evaluation": "evaluation methods",
                                               "inclusion": "inclusion training",
                                               "music therapy": "music therapy approaches"})),
        Column("format", "category", "online or in person.", allowed=CPD_FORMATS,
               aliases=("mode", "delivery"),
               value_aliases=_cat(CPD_FORMATS, {"zoom": "online", "remote": "online",
                                                "face to face": "in person",
                                                "in-person": "in person"})),
        Column("hours", "number", "Length in hours.", minimum=0, maximum=40,
               aliases=("duration", "duration hours")),
    ),
    key=("tutor", "date", "topic"),
)

#: Every table, by name, in the order the data dictionary lists them.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (SERVICES, AUDIT_STATEMENTS, AUDIT_RATINGS, WELLBEING, PARTICIPANTS, ATTENDANCE,
              OUTCOME_INDICATORS, OUTCOME_RATINGS, BENCHMARKS, STAGES_TABLE, TUTORS, CPD)
}


def programme_year_of(dates) -> "pd.Series":
    """Programme (academic) year of each date, September to August: 2020-03-23 → "2019-20"."""
    import pandas as pd

    d = pd.to_datetime(pd.Series(dates))
    start = d.dt.year.where(d.dt.month >= 9, d.dt.year - 1)
    out = start.astype("Int64").astype("string") + "-" + ((start + 1) % 100).astype("Int64").astype(
        "string").str.zfill(2)
    return out.astype("string")
