"""Synthetic sample data: realistic, illustrative and reproducible.

:func:`generate` makes one DataFrame per table of :data:`changing_tracks.contracts.TABLES`
that looks like the data the Changing Tracks partners collect: the partner music services
named in the 2019-20 learning report, programme years 2018-19 and 2019-20, the Youth Music
ED&I audit at baseline (July 2019) and follow-up (July or September 2020), WEMWBS and
SWEMWBS questionnaires, participation and attendance registers, tutor-rated outcomes and
population benchmarks. :func:`write_sample` writes them as the files the loaders read
(the audit as a folder of Youth Music workbooks) with a README saying what they are.

Everything measured is invented. The partner names, local authorities and programme
years are real; the ratings, scores, young people and benchmark figures are not, and the
audit statement texts are written for the sample (the real tool's wording is not public).

Realism that the analyses need to meet:

- lockdown (23 March 2020) stops sessions, cuts follow-ups in 2019-20 (by a share that
  varies by service), leaves some participants unfinished and delays some audits to
  September 2020; one service has no audit follow-up yet;
- priority groups (free school meals, SEN, looked-after, young carers) are
  over-represented in targeted projects and alternative provision;
- some wellbeing respondents are of primary age (9-10), outside the scales' validated age;
- some services rate musical outcomes more consistently than personal and social ones.

Randomness comes from :class:`numpy.random.SeedSequence` streams keyed by table and
service, so adding a table or a service does not change the others, and the same seed
gives byte-identical files. Tables are built with vectorised NumPy per service and year,
so national scale (150 services × 20,000 participants a year) takes minutes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from .contracts import (
    ACTIVITY_TYPES,
    AUDIT_STATUSES,
    CHARACTERISTICS,
    ETHNICITY_GROUPS,
    INSTRUMENTS,
    OUTCOME_DOMAINS,
    OUTCOME_WAVES,
    PROGRESSION_ROUTES,
    SEN_VALUES,
    SETTINGS,
    SEX_VALUES,
    STATUSES,
    SWEMWBS_ITEMS,
    TABLES,
    WAVES,
    WEMWBS_ITEMS,
)
from .workbook import workbook_file_name, write_audit_workbook

__all__ = [
    "PROGRAMME_YEARS",
    "LOCKDOWN",
    "BENCHMARK_SOURCE",
    "BENCHMARK_SOURCE_YEAR",
    "SAMPLE_COMMAND",
    "generate",
    "write_sample",
]

#: Programme (academic) years in the sample.
PROGRAMME_YEARS: tuple[str, ...] = ("2018-19", "2019-20")
#: First day of the March 2020 lockdown: no sessions on or after it.
LOCKDOWN: date = date(2020, 3, 23)
#: Source written on every benchmark row.
BENCHMARK_SOURCE = ("Illustrative figures near DfE Schools, pupils and their characteristics / "
                    "SEN in England 2023/24")
BENCHMARK_SOURCE_YEAR = "2023/24"
#: The command that makes the committed sample.
SAMPLE_COMMAND = "python -m changing_tracks sample --out data/sample --seed 2020"

_STRING = pd.StringDtype("pyarrow")
_EPOCH = np.datetime64("1970-01-01", "D")
_STREAMS = {"services": 1, "schedule": 2, "participants": 3, "attendance": 4, "wellbeing": 5,
            "outcomes": 6, "audit": 7, "benchmarks": 8, "areas": 9}


def _day(text: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int((np.datetime64(text, "D") - _EPOCH).astype(np.int64))


_LOCKDOWN_DAY = _day(LOCKDOWN.isoformat())


def _rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """Independent generator for one table (and service, year): streams never share draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAMS[stream], *keys)))


# --------------------------------------------------------------------------
# School calendar (England), lockdown
# --------------------------------------------------------------------------

#: Term-time teaching blocks (half terms) per programme year.
_TERMS: dict[str, tuple[tuple[str, str], ...]] = {
    "2018-19": (("2018-09-05", "2018-10-26"), ("2018-11-05", "2018-12-20"),
                ("2019-01-07", "2019-02-15"), ("2019-02-25", "2019-04-05"),
                ("2019-04-23", "2019-05-24"), ("2019-06-03", "2019-07-19")),
    "2019-20": (("2019-09-04", "2019-10-25"), ("2019-11-04", "2019-12-20"),
                ("2020-01-06", "2020-02-14"), ("2020-02-24", "2020-04-03"),
                ("2020-04-20", "2020-05-22"), ("2020-06-01", "2020-07-17")),
}
#: Mondays of school-holiday weeks used by holiday projects (the first is always used).
_HOLIDAY_WEEKS: dict[str, tuple[str, ...]] = {
    "2018-19": ("2018-10-29", "2019-02-18", "2019-04-08", "2019-04-15", "2019-07-22"),
    "2019-20": ("2019-10-28", "2020-02-17", "2020-04-06", "2020-04-14", "2020-07-20"),
}
#: Window in which lockdown follow-ups were collected online.
_ONLINE_WINDOW = (_day("2020-04-20"), _day("2020-07-17"))


def _term_dates(year: str, weekday: int) -> np.ndarray:
    """Every term-time date of the year falling on ``weekday`` (0 = Monday), as day numbers."""
    out = []
    for start, end in _TERMS[year]:
        s, e = _day(start), _day(end)
        first = s + (weekday - ((s + 3) % 7)) % 7  # 1970-01-01 was a Thursday (weekday 3)
        out.append(np.arange(first, e + 1, 7))
    return np.concatenate(out).astype(np.int64)


# --------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Project:
    """One strand of a service's work: an activity in a setting for some year groups.

    ``target``: 0 universal, 1 targeted (selected young people), 2 alternative provision,
    3 special school, 4 open/self-selecting (ensembles, music centres).
    ``rolling``: young people join through the year and stay for a block of sessions.
    """

    activity: str
    setting: str
    year_groups: tuple[int, int]
    target: int
    weight: float
    rolling: bool = False


@dataclass(frozen=True)
class _Area:
    """Illustrative population shares (all phases) for a local authority."""

    fsm: float
    sen_support: float
    ehc_plan: float
    eal: float
    looked_after: float
    young_carer: float
    female: float
    ethnicity: tuple[float, float, float, float, float]  # asian, black, mixed, white, other


@dataclass(frozen=True)
class _Spec:
    """Everything the generator needs to know about one service."""

    service: str
    name: str
    aliases: str | None
    local_authority: str
    region: str
    cohort: int
    focus: str
    prefix: str
    sizes: tuple[int, int]
    projects: tuple[_Project, ...]
    wellbeing: tuple[str | None, str | None]  # instrument for secondary age, for Years 5-6
    lockdown_loss: float
    indicators: tuple[str, ...]
    interim: bool
    coverage: tuple[float, float, float]  # share of participant-waves rated, per domain
    audit_level: float
    audit_growth: float
    audit_follow_up: str | None  # "july", "september" or None (not yet)
    rating_style: str
    area: _Area
    follow_up_organisation: str | None = None  # name written in follow-up workbooks


_ALL_INDICATORS = ("P1", "P2", "P3", "P4", "S1", "S2", "S3", "S4", "M1", "M2", "M3", "M4")
_INDICATOR_TEXT = {
    "P1": "Confidence to try new things",
    "P2": "Pride in what they have achieved",
    "P3": "Manages feelings when things get difficult",
    "P4": "Keeps going when something is hard",
    "S1": "Works with others in a group",
    "S2": "Listens to and respects other people's ideas",
    "S3": "Communicates ideas and feelings to others",
    "S4": "Feels part of the group",
    "M1": "Keeps a steady pulse",
    "M2": "Plays or sings with increasing control",
    "M3": "Creates and shares their own musical ideas",
    "M4": "Performs to others",
}
_INDICATOR_OFFSET = {"P1": 0.1, "P2": 0.2, "P3": -0.25, "P4": -0.1, "S1": 0.1, "S2": 0.0,
                     "S3": -0.2, "S4": 0.25, "M1": 0.3, "M2": 0.0, "M3": -0.35, "M4": -0.2}

_NATIONAL = _Area(0.246, 0.136, 0.048, 0.214, 0.010, 0.030, 0.489,
                  (0.125, 0.060, 0.070, 0.705, 0.025))

_P = _Project
_PARTNERS: tuple[_Spec, ...] = (
    _Spec("essex", "Essex Music Service", "Essex; EMS", "Essex", "East of England", 2018,
          "Critical reflection groups for tutors; music mentoring and music technology with "
          "young people at risk of exclusion; holiday projects; WEMWBS evaluation training",
          "ESS", (34, 41),
          (_P("mentoring", "secondary school", (7, 11), 1, 3.0, rolling=True),
           _P("small-group tuition", "alternative provision", (7, 11), 2, 2.0),
           _P("holiday project", "community", (7, 12), 1, 1.5),
           _P("small-group tuition", "secondary school", (8, 11), 1, 2.0)),
          ("WEMWBS", None), 0.45, _ALL_INDICATORS, True, (0.95, 0.95, 0.96),
          2.0, 0.40, "july", "number",
          _Area(0.205, 0.135, 0.050, 0.115, 0.008, 0.030, 0.489,
                (0.050, 0.045, 0.058, 0.825, 0.012))),
    _Spec("hertfordshire", "Hertfordshire Music Service", "Herts; HMS", "Hertfordshire",
          "East of England", 2018,
          "Critical reflection groups (online during lockdown); inclusive whole class ensemble "
          "teaching; a community music centre; Young Music Leaders traineeships",
          "HER", (52, 60),
          (_P("whole class ensemble teaching", "primary school", (4, 5), 0, 4.0),
           _P("ensemble", "community", (5, 13), 4, 2.0),
           _P("small-group tuition", "secondary school", (7, 9), 1, 2.0),
           _P("mentoring", "alternative provision", (9, 11), 2, 1.0, rolling=True)),
          ("WEMWBS", "SWEMWBS"), 0.25, _ALL_INDICATORS, True, (0.90, 0.92, 0.97),
          2.15, 0.45, "july", "words",
          _Area(0.165, 0.125, 0.047, 0.175, 0.006, 0.028, 0.490,
                (0.095, 0.062, 0.075, 0.735, 0.022)),
          follow_up_organisation="Herts"),
    _Spec("waltham-forest", "Waltham Forest Music Service", "Waltham Forest; WFMS",
          "Waltham Forest", "London", 2018,
          "Critical reflection groups; music technology in community settings; flexible "
          "music leaders; mentoring in secondary schools",
          "WAL", (28, 33),
          (_P("small-group tuition", "community", (8, 13), 1, 3.0),
           _P("mentoring", "secondary school", (7, 11), 1, 2.0, rolling=True),
           _P("holiday project", "community", (6, 10), 1, 1.5)),
          ("WEMWBS", None), 0.55, _ALL_INDICATORS, False, (0.55, 0.60, 0.97),
          1.9, 0.35, "july", "number",
          _Area(0.265, 0.130, 0.043, 0.455, 0.009, 0.035, 0.492,
                (0.235, 0.170, 0.115, 0.385, 0.075))),
    _Spec("cornwall", "Cornwall Music Service Trust", "Cornwall; CMST", "Cornwall",
          "South West", 2019,
          "Music therapy approaches, songwriting and training for school staff; nurture "
          "groups and primary-secondary transition for pupils with barriers to learning",
          "COR", (0, 24),
          (_P("nurture group", "primary school", (2, 6), 1, 3.0),
           _P("small-group tuition", "special school", (4, 11), 3, 1.5),
           _P("singing", "primary school", (5, 6), 0, 1.5),
           _P("small-group tuition", "secondary school", (7, 7), 1, 1.5)),
          ("SWEMWBS", "SWEMWBS"), 0.70, _ALL_INDICATORS, False, (0.93, 0.90, 0.80),
          1.6, 0.35, "september", "words",
          _Area(0.255, 0.150, 0.052, 0.045, 0.010, 0.040, 0.488,
                (0.012, 0.006, 0.030, 0.940, 0.005))),
    _Spec("southampton", "Southampton Music Services", "Southampton; SMS", "Southampton",
          "South East", 2019,
          "Reflective practice and journaling; student-led learning; work with the local "
          "authority's targeted support teams",
          "SOU", (0, 19),
          (_P("small-group tuition", "secondary school", (7, 10), 1, 3.0),
           _P("mentoring", "alternative provision", (8, 11), 2, 1.5, rolling=True),
           _P("ensemble", "community", (6, 12), 4, 1.0)),
          ("SWEMWBS", None), 0.40, ("P1", "P2", "P3", "S1", "S2", "S3", "M1", "M2", "M3"),
          True, (0.90, 0.90, 0.95),
          1.7, 0.30, "september", "number",
          _Area(0.305, 0.140, 0.045, 0.255, 0.013, 0.035, 0.487,
                (0.125, 0.050, 0.072, 0.690, 0.045))),
    _Spec("cambridgeshire", "Cambridgeshire Music Service", "Cambs; Cambridgeshire Music",
          "Cambridgeshire", "East of England", 2018,
          "General inclusion training; partnerships with organisations working with young "
          "people not in education, employment or training, and with early years",
          "CAM", (22, 26),
          (_P("small-group tuition", "community", (11, 13), 1, 2.5),
           _P("singing", "primary school", (0, 2), 0, 1.5),
           _P("holiday project", "community", (5, 9), 1, 1.5)),
          ("WEMWBS", None), 0.35, _ALL_INDICATORS, False, (0.60, 0.70, 0.98),
          1.8, 0.30, "september", "number",
          _Area(0.170, 0.128, 0.049, 0.170, 0.007, 0.030, 0.490,
                (0.080, 0.030, 0.070, 0.790, 0.018))),
    _Spec("norfolk", "Norfolk Music Service", "Norfolk; NMS", "Norfolk", "East of England",
          2018,
          "Nurture groups in primary schools, with training for teachers and teaching "
          "assistants who know the pupils and their families",
          "NOR", (14, 18),
          (_P("nurture group", "primary school", (1, 4), 1, 4.0),
           _P("small-group tuition", "special school", (2, 8), 3, 1.5)),
          (None, None), 0.60, ("P1", "P2", "P3", "S1", "S2", "S3", "M1", "M2"), False,
          (0.97, 0.97, 0.75),
          1.7, 0.0, None, "number",
          _Area(0.250, 0.147, 0.052, 0.120, 0.009, 0.038, 0.488,
                (0.032, 0.030, 0.050, 0.865, 0.013))),
    _Spec("resonate", "Resonate (Liverpool Music Hub)", "Liverpool; Resonate Music Hub",
          "Liverpool", "North West", 2018,
          "Music in pupil referral units and alternative provision, alongside schools' "
          "THRIVE and SHINE initiatives; holiday projects",
          "RES", (12, 16),
          (_P("mentoring", "alternative provision", (7, 11), 2, 3.0, rolling=True),
           _P("small-group tuition", "alternative provision", (5, 6), 2, 1.0),
           _P("holiday project", "community", (7, 11), 1, 1.0)),
          ("SWEMWBS", None), 0.65, _ALL_INDICATORS, True, (0.95, 0.90, 0.85),
          1.8, 0.25, "september", "words",
          _Area(0.385, 0.165, 0.055, 0.150, 0.016, 0.040, 0.491,
                (0.055, 0.055, 0.065, 0.775, 0.040))),
)

#: Project types synthetic services choose from (whole class teaching always included).
_EXTRA_PROJECTS: tuple[_Project, ...] = (
    _P("small-group tuition", "secondary school", (7, 11), 1, 1.5),
    _P("mentoring", "alternative provision", (7, 11), 2, 0.7, rolling=True),
    _P("nurture group", "primary school", (1, 4), 1, 1.0),
    _P("ensemble", "community", (5, 13), 4, 1.5),
    _P("singing", "primary school", (2, 6), 0, 1.5),
    _P("small-group tuition", "special school", (3, 13), 3, 0.6),
    _P("holiday project", "community", (6, 11), 1, 0.6),
    _P("individual tuition", "secondary school", (7, 13), 4, 1.0),
)
_WCET = _P("whole class ensemble teaching", "primary school", (3, 5), 0, 5.0)
_REGIONS = ("East of England", "London", "South West", "South East", "North West",
            "North East", "Yorkshire and The Humber", "East Midlands", "West Midlands")
_FOCI = ("Nurture groups in primary schools", "Critical reflection groups for tutors",
         "Music mentoring for young people at risk of exclusion",
         "Inclusive whole class ensemble teaching", "Work in alternative provision",
         "Holiday projects with young carers", "Progression routes into ensembles")


def _extra_spec(seed: int, index: int) -> _Spec:
    """A synthetic service ("Service 009" …) with a synthetic local authority."""
    rng = _rng(seed, "services", index)
    number = f"{index + 1:03d}"
    chosen = rng.choice(len(_EXTRA_PROJECTS), size=int(rng.integers(2, 5)), replace=False)
    projects = (_WCET, *(_EXTRA_PROJECTS[i] for i in sorted(chosen)))
    wellbeing_options = (("WEMWBS", None), ("WEMWBS", "SWEMWBS"), ("SWEMWBS", None),
                         ("SWEMWBS", "SWEMWBS"), (None, None))
    wellbeing = wellbeing_options[int(rng.choice(5, p=[0.3, 0.1, 0.2, 0.1, 0.3]))]
    follow_up = (["july", "september", None][int(rng.choice(3, p=[0.55, 0.35, 0.10]))])
    area_rng = _rng(seed, "areas", index)
    nonwhite = np.array(_NATIONAL.ethnicity)[[0, 1, 2, 4]] * np.exp(area_rng.normal(0, 0.6, 4))
    nonwhite = nonwhite * min(1.0, 0.6 / nonwhite.sum())
    known = 0.985
    eth = (nonwhite[0], nonwhite[1], nonwhite[2], known - nonwhite.sum(), nonwhite[3])
    n = _NATIONAL
    area = _Area(
        float(np.clip(n.fsm * np.exp(area_rng.normal(0, 0.3)), 0.06, 0.5)),
        float(np.clip(n.sen_support * np.exp(area_rng.normal(0, 0.12)), 0.08, 0.22)),
        float(np.clip(n.ehc_plan * np.exp(area_rng.normal(0, 0.15)), 0.025, 0.08)),
        float(np.clip(n.eal * np.exp(area_rng.normal(0, 0.6)), 0.02, 0.7)),
        float(np.clip(n.looked_after * np.exp(area_rng.normal(0, 0.3)), 0.004, 0.025)),
        float(np.clip(n.young_carer * np.exp(area_rng.normal(0, 0.25)), 0.01, 0.08)),
        float(np.clip(n.female + area_rng.normal(0, 0.003), 0.48, 0.50)),
        tuple(float(x) for x in eth),
    )
    return _Spec(
        f"service-{number}", f"Service {number}", f"S{number}", f"Local Authority {number}",
        _REGIONS[index % len(_REGIONS)], 2018 if index % 2 == 0 else 2019,
        str(rng.choice(_FOCI)), f"S{number}",
        (int(rng.integers(12, 61)), int(rng.integers(12, 61))), projects, wellbeing,
        float(rng.uniform(0.2, 0.7)), ("P1", "P2", "S1", "S2", "M1", "M2"),
        bool(rng.random() < 0.4),
        (float(rng.uniform(0.55, 1.0)), float(rng.uniform(0.55, 1.0)),
         float(rng.uniform(0.8, 1.0))),
        float(rng.normal(1.8, 0.2)), float(rng.uniform(0.1, 0.45)), follow_up,
        "words" if rng.random() < 0.4 else "number", area,
    )


def _specs(seed: int, n_services: int | None) -> list[_Spec]:
    if n_services is None:
        return list(_PARTNERS)
    return list(_PARTNERS[:n_services]) + [_extra_spec(seed, i)
                                           for i in range(len(_PARTNERS), n_services)]


def _phase_area(area: _Area, phase: str) -> dict[str, float]:
    """Illustrative share of each characteristic for one phase (primary, secondary, all)."""
    factor = {
        "primary": dict(fsm=1.03, sen_support=1.05, ehc_plan=0.62, eal=1.07, looked_after=0.9,
                        young_carer=0.8, nonwhite=1.05, female=-0.001),
        "secondary": dict(fsm=0.96, sen_support=0.94, ehc_plan=0.55, eal=0.90, looked_after=1.1,
                          young_carer=1.2, nonwhite=0.95, female=0.003),
        "all": dict(fsm=1.0, sen_support=1.0, ehc_plan=1.0, eal=1.0, looked_after=1.0,
                    young_carer=1.0, nonwhite=1.0, female=0.0),
    }[phase]
    asian, black, mixed, white, other = area.ethnicity
    known = asian + black + mixed + white + other
    nonwhite = [x * factor["nonwhite"] for x in (asian, black, mixed, other)]
    white = known - sum(nonwhite)
    female = area.female + factor["female"]
    shares = {
        "fsm": area.fsm * factor["fsm"],
        "sen_support": area.sen_support * factor["sen_support"],
        "ehc_plan": area.ehc_plan * factor["ehc_plan"],
        "looked_after": area.looked_after * factor["looked_after"],
        "young_carer": area.young_carer * factor["young_carer"],
        "eal": area.eal * factor["eal"],
        "sex_female": female,
        "sex_male": 1.0 - female,
        "ethnicity_asian": nonwhite[0],
        "ethnicity_black": nonwhite[1],
        "ethnicity_mixed": nonwhite[2],
        "ethnicity_white": white,
        "ethnicity_other": nonwhite[3],
    }
    return {k: round(v, 3) for k, v in shares.items()}


# --------------------------------------------------------------------------
# Participants and their schedules
# --------------------------------------------------------------------------

@dataclass
class _Block:
    """One service's participants in one programme year, as NumPy arrays."""

    spec_index: int
    spec: _Spec
    year_index: int
    projects: tuple[_Project, ...]
    dates: np.ndarray  # (n_projects, max planned sessions) day numbers, -1 padded
    actual_len: np.ndarray  # sessions held per project (before lockdown)
    number: np.ndarray
    width: int
    project: np.ndarray
    first: np.ndarray  # index of the first session offered
    last: np.ndarray  # index of the last session offered
    end_known: np.ndarray
    status: np.ndarray  # codes into STATUSES
    progression: np.ndarray  # codes into PROGRESSION_ROUTES, -1 not known
    lockdown: np.ndarray  # planned sessions lost to lockdown
    year_group: np.ndarray  # true year group
    year_group_recorded: np.ndarray  # -1 not recorded
    birth: np.ndarray  # day numbers
    z: np.ndarray  # latent disadvantage
    sex: np.ndarray
    ethnicity: np.ndarray
    fsm: np.ndarray
    sen: np.ndarray
    looked_after: np.ndarray
    young_carer: np.ndarray
    eal: np.ndarray
    offset: int = 0  # first row in the participants table

    @property
    def year(self) -> str:
        return PROGRAMME_YEARS[self.year_index]

    @property
    def n(self) -> int:
        return len(self.number)

    @property
    def target(self) -> np.ndarray:
        return np.array([p.target for p in self.projects], dtype=np.int64)[self.project]

    def day(self, index: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        project = self.project if rows is None else self.project[rows]
        return self.dates[project, index]


def _schedules(rng: np.random.Generator, year: str, projects: Sequence[_Project],
               sessions: int | None) -> list[np.ndarray]:
    """Planned session dates of each project in a year (before lockdown is applied)."""
    out = []
    for project in projects:
        if project.activity == "holiday project":
            weeks = _HOLIDAY_WEEKS[year]
            k = int(rng.integers(2, 4))
            chosen = [0, *sorted(int(i) for i in rng.choice(np.arange(1, len(weeks)), k - 1,
                                                             replace=False))]
            days = np.array([_day(weeks[w]) + d for w in chosen for d in range(5)], np.int64)
            if sessions is not None:
                days = days[:sessions]
        else:
            all_days = _term_dates(year, int(rng.integers(0, 5)))
            if project.rolling or project.activity == "whole class ensemble teaching":
                start = int(rng.integers(0, 3))
                length = len(all_days) - start if project.rolling else int(rng.integers(26, 34))
            else:
                start = int(rng.choice([0, 1, 2, 6, 7, 14, 15, 16]))
                length = int(rng.integers(10, 31))
            if sessions is not None and not project.rolling:
                length = sessions
            days = all_days[start:start + max(1, length)]
        out.append(days)
    return out


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float | np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


#: Odds ratios of each characteristic by project target level (see _Project), and share male.
_TARGETING = {
    #   fsm  sen   ehc  lac  yc   eal  male
    0: (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.51),
    1: (3.0, 3.0, 2.0, 4.0, 2.0, 0.9, 0.58),
    2: (4.5, 5.0, 3.5, 8.0, 2.0, 0.6, 0.72),
    3: (2.0, 1.0, 1.0, 3.0, 1.5, 0.8, 0.68),
    4: (0.6, 0.7, 0.7, 0.5, 0.8, 0.9, 0.45),
}
_PHASE_OF_SETTING = {"primary school": "primary", "secondary school": "secondary"}


def _draw_category(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row from a (rows, k) matrix of probabilities; -1 for the remainder."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None]
    code = (u >= cum).sum(axis=1)
    return np.where(code >= probs.shape[1], -1, code).astype(np.int64)


def _flag(rng: np.random.Generator, p: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """1/0 with probability p, -1 (not recorded) with probability ``missing``."""
    value = (rng.random(len(p)) < p).astype(np.int64)
    return np.where(rng.random(len(p)) < missing, -1, value)


def _characteristics(rng: np.random.Generator, spec: _Spec, projects: Sequence[_Project],
                     project: np.ndarray) -> dict[str, np.ndarray]:
    """Characteristics of new participants: local rates shifted by the project's targeting."""
    n = len(project)
    phases = ("primary", "secondary", "all")
    keys = ("fsm", "sen_support", "ehc_plan", "looked_after", "young_carer", "eal",
            *(f"ethnicity_{g}" for g in ETHNICITY_GROUPS))
    table = np.array([[_phase_area(spec.area, ph)[k] for k in keys] for ph in phases])
    project_phase = np.array([phases.index(_PHASE_OF_SETTING.get(p.setting, "all"))
                              for p in projects], np.int64)
    rates = table[project_phase[project]] if n else np.zeros((0, len(keys)))

    def rate(key: str) -> np.ndarray:
        return rates[:, keys.index(key)]

    odds_table = np.array([_TARGETING[t] for t in range(len(_TARGETING))])
    target = np.array([p.target for p in projects], np.int64)[project]
    odds = odds_table[target]
    community = np.array([p.setting == "community" for p in projects])[project]
    special = target == 3
    z = rng.normal(0.0, 1.0, n)
    miss = np.where(community, 0.12, 0.03)
    fsm = _flag(rng, _logistic(_logit(rate("fsm")) + np.log(odds[:, 0]) + 0.7 * z), miss)
    p_ehc = _logistic(_logit(rate("ehc_plan")) + np.log(odds[:, 2]) + 0.5 * z)
    p_sup = _logistic(_logit(rate("sen_support")) + np.log(odds[:, 1]) + 0.6 * z)
    p_ehc = np.where(special, 0.78, p_ehc)
    p_sup = np.where(special, 0.82, p_sup)  # of those without a plan
    sen_probs = np.column_stack([(1 - p_ehc) * (1 - p_sup), (1 - p_ehc) * p_sup, p_ehc])
    sen = _draw_category(rng, sen_probs)
    sen = np.where(rng.random(n) < miss, -1, sen)
    lac = _flag(rng, _logistic(_logit(rate("looked_after")) + np.log(odds[:, 3]) + 0.6 * z),
                np.where(community, 0.15, 0.05))
    yc = _flag(rng, _logistic(_logit(rate("young_carer")) + np.log(odds[:, 4]) + 0.3 * z),
               np.where(community, 0.25, 0.15))
    eal = _flag(rng, _logistic(_logit(rate("eal")) + np.log(odds[:, 5])),
                np.where(community, 0.10, 0.04))
    sex = np.where(rng.random(n) < odds[:, 6], 1, 0).astype(np.int64)  # codes into SEX_VALUES
    sex = np.where(rng.random(n) < np.where(community, 0.03, 0.01), -1, sex)
    eth_share = np.column_stack([rate(f"ethnicity_{g}") for g in ETHNICITY_GROUPS])
    unknown = np.where(community, 0.08, 0.03)
    total = eth_share.sum(axis=1, keepdims=True)
    eth_share = eth_share / np.where(total > 0, total, 1) * (1 - unknown)[:, None]
    ethnicity = _draw_category(rng, eth_share)
    return dict(z=z, fsm=fsm, sen=sen, looked_after=lac, young_carer=yc, eal=eal, sex=sex,
                ethnicity=ethnicity)


def _choose_projects(rng: np.random.Generator, weights: np.ndarray,
                     allowed: np.ndarray) -> np.ndarray:
    """Project per row, by weight, among the projects ``allowed`` for that row (-1 if none)."""
    w = np.where(allowed, weights[None, :], 0.0)
    total = w.sum(axis=1)
    p = np.divide(w, total[:, None], out=np.zeros_like(w), where=total[:, None] > 0)
    choice = _draw_category(rng, p)
    return np.where(total > 0, np.clip(choice, 0, len(weights) - 1), -1)


def _block(seed: int, index: int, spec: _Spec, year_index: int, size: int,
           previous: _Block | None, sessions: int | None, width: int) -> _Block:
    year = PROGRAMME_YEARS[year_index]
    rng = _rng(seed, "participants", index, year_index)
    schedule_rng = _rng(seed, "schedule", index, year_index)
    projects = spec.projects
    planned = _schedules(schedule_rng, year, projects, sessions)
    actual_len = np.array([int((d < _LOCKDOWN_DAY).sum()) for d in planned], np.int64)
    planned_len = np.array([len(d) for d in planned], np.int64)
    width_dates = max(int(planned_len.max()), 1)
    dates = np.full((len(projects), width_dates), -1, np.int64)
    for i, d in enumerate(planned):
        dates[i, :len(d)] = d
    weights = np.array([p.weight for p in projects], float) * (actual_len > 0)
    lo = np.array([p.year_groups[0] for p in projects])
    hi = np.array([p.year_groups[1] for p in projects])

    # young people continuing from last year keep their id and characteristics
    keep = np.zeros(0, np.int64)
    cont_project = np.zeros(0, np.int64)
    if previous is not None and size > 1:
        candidate = ((previous.status != STATUSES.index("withdrew"))
                     & (previous.year_group <= 12))
        p_continue = np.where(previous.status == STATUSES.index("active"), 0.8, 0.22)
        chosen = np.flatnonzero(candidate & (rng.random(previous.n) < p_continue))
        chosen = chosen[: int(0.4 * size)]
        next_yg = previous.year_group[chosen] + 1
        allowed = (next_yg[:, None] >= lo[None, :]) & (next_yg[:, None] <= hi[None, :])
        cont_project = _choose_projects(rng, weights, allowed)
        keep = chosen[cont_project >= 0]
        cont_project = cont_project[cont_project >= 0]
    n_new = size - len(keep)
    first_number = 1 if previous is None else int(previous.number.max()) + 1
    new_project = _choose_projects(rng, weights, np.ones((n_new, len(projects)), bool))
    new_yg = rng.integers(lo[new_project], hi[new_project] + 1)
    chars = _characteristics(rng, spec, projects, new_project)
    # birth date: year group Y in the year starting in September A was born between
    # 1 September A-Y-5 and 31 August A-Y-4
    born_from = ((int(year[:4]) - new_yg - 5 - 1970).astype("datetime64[Y]")
                 .astype("datetime64[M]") + 8).astype("datetime64[D]")
    birth_new = (born_from - _EPOCH).astype(np.int64) + rng.integers(0, 365, n_new)

    def merged(old: np.ndarray | None, new: np.ndarray) -> np.ndarray:
        return np.concatenate([old[keep] if old is not None else np.zeros(0, new.dtype), new])

    def prev(name: str) -> np.ndarray | None:
        return getattr(previous, name) if previous is not None else None

    number = merged(prev("number"), np.arange(first_number, first_number + n_new))
    project = np.concatenate([cont_project, new_project]).astype(np.int64)
    year_group = merged(None if previous is None else previous.year_group + 1, new_yg)
    birth = merged(prev("birth"), birth_new)
    fields = {k: merged(prev(k), v) for k, v in chars.items()}
    n = len(number)
    community = np.array([p.setting == "community" for p in projects])[project]
    yg_missing = rng.random(n) < np.where(community, 0.12, 0.01)
    year_group_recorded = np.where(yg_missing, -1, year_group)

    # who starts when, and for how long
    rolling = np.array([p.rolling for p in projects])[project]
    alen = actual_len[project]
    plen = planned_len[project]
    own = np.full(n, sessions if sessions is not None else 0)
    own = np.where(own > 0, own, rng.integers(10, 15, n))
    roll_start = np.floor(rng.random(n) * np.maximum(np.minimum(plen - own + 1, alen), 1))
    late = (rng.random(n) < 0.12) & (alen > 1)
    late_start = np.floor(1 + rng.random(n) * (np.minimum(5, alen) - 1))
    first = np.where(rolling, roll_start, np.where(late, late_start, 0)).astype(np.int64)
    planned_end = np.where(rolling, np.minimum(first + own - 1, plen - 1), plen - 1)
    still_going = rolling & (first + own - 1 > plen - 1)  # their block runs into next year
    target = np.array([p.target for p in projects], np.int64)[project]
    p_withdraw = _logistic(_logit(0.12) + 0.6 * (target == 2) + 0.3 * fields["z"]
                           + 0.5 * (fields["looked_after"] == 1))
    withdraws = (rng.random(n) < p_withdraw) & (planned_end > first)
    withdraw_at = first + 1 + np.floor(rng.random(n) * np.maximum(planned_end - first, 1))
    withdraw_at = withdraw_at.astype(np.int64)
    last_held = alen - 1
    status = np.full(n, STATUSES.index("completed"), np.int64)
    last = planned_end.copy()
    end_known = np.ones(n, bool)
    lockdown = np.zeros(n, bool)
    early = withdraws & (withdraw_at <= last_held)
    status[early] = STATUSES.index("withdrew")
    last[early] = withdraw_at[early]
    cut = ~early & (planned_end > last_held)
    lockdown[cut] = True
    last[cut] = last_held[cut]
    u = rng.random(n)
    status[cut & (u < 0.35)] = STATUSES.index("completed")
    status[cut & (u >= 0.35) & (u < 0.60)] = STATUSES.index("withdrew")
    active = (cut & (u >= 0.60)) | (still_going & ~early & ~cut)
    status[active] = STATUSES.index("active")
    end_known[active] = False

    # progression into regular provision
    wcet = np.array([p.activity == "whole class ensemble teaching" for p in projects])[project]
    # none, lessons, ensemble, music centre, other (the rest: not known)
    probs = np.tile([0.45, 0.17, 0.10, 0.07, 0.03], (n, 1))
    probs[wcet] = [0.42, 0.24, 0.08, 0.06, 0.02]
    probs[lockdown] = [0.55, 0.08, 0.04, 0.03, 0.02]
    withdrew = status == STATUSES.index("withdrew")
    probs[withdrew] = [0.55, 0.0, 0.0, 0.0, 0.0]
    probs[active] = [0.15, 0.0, 0.0, 0.0, 0.0]
    progression = _draw_category(rng, probs)

    order = np.argsort(number, kind="stable")
    return _Block(
        spec_index=index, spec=spec, year_index=year_index, projects=projects, dates=dates,
        actual_len=actual_len, number=number[order], width=width, project=project[order],
        first=first[order], last=last[order], end_known=end_known[order],
        status=status[order], progression=progression[order], lockdown=lockdown[order],
        year_group=year_group[order], year_group_recorded=year_group_recorded[order],
        birth=birth[order], **{k: v[order] for k, v in fields.items()},
    )


def _blocks(seed: int, specs: Sequence[_Spec], size: int | None,
            sessions: int | None) -> list[_Block]:
    blocks: list[_Block] = []
    offset = 0
    for index, spec in enumerate(specs):
        sizes = (size, size) if size is not None else spec.sizes
        years = [y for y in range(len(PROGRAMME_YEARS))
                 if int(PROGRAMME_YEARS[y][:4]) >= spec.cohort]
        width = max(4, len(str(sum(sizes[y] for y in years))))
        previous = None
        for y in years:
            blk = _block(seed, index, spec, y, sizes[y], previous, sessions, width)
            blk.offset = offset
            offset += blk.n
            blocks.append(blk)
            previous = blk
    return blocks


# --------------------------------------------------------------------------
# Building pandas columns
# --------------------------------------------------------------------------

def _strings(categories: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """String column from category codes (-1 = missing), built in Arrow (fast at scale)."""
    codes = np.asarray(codes)
    dictionary = pa.array(list(categories), type=pa.large_string())
    if len(dictionary) == 0:
        return pd.array(pa.nulls(len(codes), pa.large_string()), dtype=_STRING)
    missing = codes < 0
    index = pa.array(np.where(missing, 0, codes), mask=missing) if missing.any() \
        else pa.array(codes)
    return pd.array(dictionary.take(index), dtype=_STRING)


def _id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Ids such as ``HER-0012`` built in Arrow."""
    import pyarrow.compute as pc

    text = pc.utf8_lpad(pa.array(np.asarray(numbers, np.int64)).cast(pa.string()),
                        width=width, padding="0")
    return pc.binary_join_element_wise(prefix + "-", text, "").cast(pa.large_string())


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """datetime64[ns] dates from day numbers (days since 1970-01-01); NaT where missing."""
    out = np.array(days, dtype=np.int64)  # a fresh copy, scaled in place
    np.multiply(out, 86_400_000_000_000, out=out)
    out = out.view("datetime64[ns]")
    if missing is not None:
        out[missing] = np.datetime64("NaT")
    return out


def _ints(values: np.ndarray, missing: np.ndarray | None = None) -> pd.arrays.IntegerArray:
    values = np.asarray(values, np.int64)
    mask = np.zeros(len(values), bool) if missing is None else np.asarray(missing, bool)
    return pd.arrays.IntegerArray(np.where(mask, 0, values), mask.copy())


def _bools(codes: np.ndarray) -> pd.arrays.BooleanArray:
    codes = np.asarray(codes)
    return pd.arrays.BooleanArray(codes == 1, codes < 0)


def _frame(table: str, columns: dict[str, object]) -> pd.DataFrame:
    """DataFrame with exactly the contract's columns, in contract order."""
    names = TABLES[table].names
    assert set(columns) == set(names), (table, set(columns) ^ set(names))
    return pd.DataFrame({name: columns[name] for name in names})


def _age(birth: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Age in whole years on ``day`` of someone born on ``birth`` (day numbers)."""
    b = pd.DatetimeIndex(np.asarray(birth, np.int64).astype("datetime64[D]"))
    d = pd.DatetimeIndex(np.asarray(day, np.int64).astype("datetime64[D]"))
    before = (d.month < b.month) | ((d.month == b.month) & (d.day < b.day))
    return np.asarray(d.year - b.year - before, np.int64)


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def _services_frame(specs: Sequence[_Spec]) -> pd.DataFrame:
    return _frame("services", {
        "service": pd.array([s.service for s in specs], dtype=_STRING),
        "name": pd.array([s.name for s in specs], dtype=_STRING),
        "aliases": pd.array([s.aliases for s in specs], dtype=_STRING),
        "local_authority": pd.array([s.local_authority for s in specs], dtype=_STRING),
        "region": pd.array([s.region for s in specs], dtype=_STRING),
        "cohort": pd.array([s.cohort for s in specs], dtype="Int64"),
        "focus": pd.array([s.focus for s in specs], dtype=_STRING),
    })


def _participants_frame(blocks: Sequence[_Block], specs: Sequence[_Spec],
                        pid: pa.Array) -> pd.DataFrame:
    cat = np.concatenate
    service = cat([np.full(b.n, b.spec_index) for b in blocks]) if blocks else np.zeros(0, int)
    year = cat([np.full(b.n, b.year_index) for b in blocks]) if blocks else np.zeros(0, int)

    def project_attr(name: str, vocabulary: Sequence[str]) -> np.ndarray:
        if not blocks:
            return np.zeros(0, int)
        return cat([np.array([vocabulary.index(getattr(p, name)) for p in b.projects],
                             np.int64)[b.project] for b in blocks])

    def field(name: str) -> np.ndarray:
        return cat([getattr(b, name) for b in blocks]) if blocks else np.zeros(0, np.int64)

    start = cat([b.day(b.first) for b in blocks]) if blocks else np.zeros(0, np.int64)
    end = cat([b.day(b.last) for b in blocks]) if blocks else np.zeros(0, np.int64)
    end_known = field("end_known").astype(bool)
    yg = field("year_group_recorded")
    return _frame("participants", {
        "participant": pd.array(pid, dtype=_STRING),
        "service": _strings([s.service for s in specs], service),
        "year": _strings(PROGRAMME_YEARS, year),
        "activity": _strings(ACTIVITY_TYPES, project_attr("activity", ACTIVITY_TYPES)),
        "setting": _strings(SETTINGS, project_attr("setting", SETTINGS)),
        "year_group": _ints(yg, yg < 0),
        "sex": _strings(SEX_VALUES, field("sex")),
        "ethnicity": _strings(ETHNICITY_GROUPS, field("ethnicity")),
        "fsm": _bools(field("fsm")),
        "sen": _strings(SEN_VALUES, field("sen")),
        "looked_after": _bools(field("looked_after")),
        "young_carer": _bools(field("young_carer")),
        "eal": _bools(field("eal")),
        "start": _dates(start),
        "end": _dates(end, ~end_known),
        "status": _strings(STATUSES, field("status")),
        "progression": _strings(PROGRESSION_ROUTES, field("progression")),
    })


def _attendance_frame(seed: int, blocks: Sequence[_Block], pid: pa.Array) -> pd.DataFrame:
    rows, days, attended = [], [], []
    for b in blocks:
        rng = _rng(seed, "attendance", b.spec_index, b.year_index)
        counts = b.last - b.first + 1
        who = np.repeat(np.arange(b.n, dtype=np.int32), counts)
        step = (np.arange(counts.sum(), dtype=np.int64)
                - np.repeat(np.cumsum(counts) - counts, counts)).astype(np.int32)
        p = _logistic(1.9 - 0.35 * b.z - 0.5 * (b.looked_after == 1)
                      - 0.4 * (b.young_carer == 1) - 0.4 * (b.target == 2)
                      - 0.7 * (b.status == STATUSES.index("withdrew"))
                      + rng.normal(0, 0.6, b.n))
        attended.append((rng.random(len(who)) < p[who]) | (step == 0))
        days.append(b.dates[b.project[who], b.first[who] + step].astype(np.int32))
        rows.append((b.offset + who).astype(np.int64))
        del who, step
    rows_ = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    del rows
    participant = pd.array(pid.take(pa.array(rows_)), dtype=_STRING)
    del rows_
    return _frame("attendance", {
        "participant": participant,
        "session_date": _dates(np.concatenate(days) if days else np.zeros(0, np.int64)),
        "attended": pd.array(np.concatenate(attended) if attended else np.zeros(0, bool),
                             dtype="boolean"),
    })


#: Item offsets (item-mean scale) so that some items run higher than others.
_ITEM_OFFSET = np.array([-0.05, -0.1, -0.3, 0.1, -0.15, 0.0, -0.05, -0.2, 0.15, -0.15, 0.15,
                         0.4, 0.15, 0.05])
_WELLBEING_MEAN = np.array([3.45, 3.22, 3.10, 3.30, 3.50])  # by project target level


def _wellbeing_frame(seed: int, blocks: Sequence[_Block], specs: Sequence[_Spec],
                     pid: pa.Array, share: float) -> pd.DataFrame:
    parts: list[dict[str, np.ndarray]] = []
    swemwbs = np.array([k in SWEMWBS_ITEMS for k in WEMWBS_ITEMS])
    for b in blocks:
        rng = _rng(seed, "wellbeing", b.spec_index, b.year_index)
        secondary, primary = b.spec.wellbeing
        code = {None: -1, **{k: i for i, k in enumerate(INSTRUMENTS)}}
        special = np.array([p.setting == "special school" for p in b.projects])[b.project]
        instrument = np.where(b.year_group >= 7, code[secondary],
                              np.where(b.year_group >= 5, code[primary], -1))
        instrument = np.where(special, -1, instrument)
        target = b.target
        # ``share`` scales the chance of a baseline on the same draws: 1 changes nothing
        asked = np.where(target == 2, 0.75, 0.85) * share
        has_base = (instrument >= 0) & (rng.random(b.n) < asked)
        base_index = b.first + ((rng.random(b.n) < 0.3) & (b.last > b.first))
        base_day = b.day(base_index)
        completed = b.status == STATUSES.index("completed")
        withdrew = b.status == STATUSES.index("withdrew")
        p_follow = np.where(~b.lockdown,
                            np.where(completed, 0.82, np.where(withdrew, 0.25, 0.5)),
                            (1 - b.spec.lockdown_loss) * np.where(withdrew, 0.4, 0.85))
        has_follow = has_base & (b.last - b.first >= 4) & (rng.random(b.n) < p_follow)
        online = rng.integers(_ONLINE_WINDOW[0], _ONLINE_WINDOW[1] + 1, b.n)
        follow_day = np.where(b.lockdown, online, b.day(b.last))
        trait = _WELLBEING_MEAN[target] + rng.normal(0, 0.08) + rng.normal(0, 0.5, b.n)
        delta = rng.normal(0.14, 0.05)
        change = rng.normal(delta, 0.2, b.n) - 0.12 * b.lockdown
        noise = rng.normal(0, 0.65, (2, b.n, 14))
        states = rng.normal(0, 0.22, (2, b.n))
        partial = rng.random((2, b.n)) < 0.025
        drop = rng.integers(0, 14, (2, b.n, 2))
        drop_two = rng.random((2, b.n)) < 0.4
        for wave, has, day in ((0, has_base, base_day), (1, has_follow, follow_day)):
            who = np.flatnonzero(has)
            theta = trait[who] + states[wave, who] + (change[who] if wave else 0.0)
            items = np.clip(np.rint(theta[:, None] + _ITEM_OFFSET[None, :]
                                    + noise[wave, who]), 1, 5).astype(np.int64)
            blank = np.zeros(items.shape, bool)
            blank[instrument[who] == INSTRUMENTS.index("SWEMWBS")] |= ~swemwbs
            # a few partially answered questionnaires: one or two answered items left blank
            for k in range(2):
                rows = np.flatnonzero(partial[wave, who] & ((k == 0) | drop_two[wave, who]))
                answered = [np.flatnonzero(~blank[r]) for r in rows]
                for r, cols in zip(rows, answered):
                    blank[r, cols[drop[wave, who[r], k] % len(cols)]] = True
            parts.append(dict(row=b.offset + who, wave=np.full(len(who), wave),
                              day=day[who], instrument=instrument[who],
                              age=_age(b.birth[who], day[who]), items=items, blank=blank,
                              service=np.full(len(who), b.spec_index),
                              year=np.full(len(who), b.year_index)))
    if parts:
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        cols = {k: np.zeros(0, np.int64)
                for k in ("row", "wave", "day", "instrument", "age", "service", "year")}
        cols["items"] = np.zeros((0, 14), np.int64)
        cols["blank"] = np.zeros((0, 14), bool)
    order = np.lexsort((cols["wave"], cols["row"]))
    cols = {k: v[order] for k, v in cols.items()}
    # response ids: Q1920-HER-0001, numbered within service and year
    response = _response_ids(cols["service"], cols["year"], specs)
    out = {
        "response": pd.array(response, dtype=_STRING),
        "participant": pd.array(pid.take(pa.array(cols["row"])), dtype=_STRING),
        "service": _strings([s.service for s in specs], cols["service"]),
        "year": _strings(PROGRAMME_YEARS, cols["year"]),
        "wave": _strings(WAVES, cols["wave"]),
        "date": _dates(cols["day"]),
        "instrument": _strings(INSTRUMENTS, cols["instrument"]),
        "age": _ints(cols["age"]),
    }
    for j, key in enumerate(WEMWBS_ITEMS):
        out[key] = _ints(cols["items"][:, j], cols["blank"][:, j])
    return _frame("wellbeing", out)


def _response_ids(service: np.ndarray, year: np.ndarray, specs: Sequence[_Spec]) -> pa.Array:
    """Questionnaire ids such as ``Q1920-HER-0001``, numbered within service and year."""
    if len(service) == 0:
        return pa.array([], pa.large_string())
    group = service * len(PROGRAMME_YEARS) + year
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    sizes = np.diff(np.r_[starts, len(group)])
    number = np.arange(len(group)) - np.repeat(starts, sizes) + 1
    pieces = []
    for s, k in zip(starts, sizes):
        spec = specs[int(service[s])]
        y = PROGRAMME_YEARS[int(year[s])]
        prefix = f"Q{y[2:4]}{y[5:7]}-{spec.prefix}"
        pieces.append(_id_strings(prefix, number[s:s + k], max(4, len(str(k)))))
    return pa.concat_arrays(pieces) if len(pieces) > 1 else pieces[0]


_OUTCOME_MEAN = np.array([  # personal, social, musical, by project target level
    (2.8, 2.8, 2.3), (2.3, 2.3, 2.2), (2.1, 2.0, 2.0), (2.3, 2.2, 2.0), (3.0, 3.0, 3.1),
])
_RATED_SHARE = {"whole class ensemble teaching": 0.4, "singing": 0.6, "ensemble": 0.6}


def _outcome_frames(seed: int, blocks: Sequence[_Block], specs: Sequence[_Spec],
                    pid: pa.Array) -> pd.DataFrame:
    parts: list[dict[str, np.ndarray]] = []
    domain_of = {"P": 0, "S": 1, "M": 2}  # index into OUTCOME_DOMAINS
    assert OUTCOME_DOMAINS == ("personal", "social", "musical")
    for b in blocks:
        rng = _rng(seed, "outcomes", b.spec_index, b.year_index)
        indicators = b.spec.indicators
        k = len(indicators)
        ind_code = np.array([_ALL_INDICATORS.index(i) for i in indicators], np.int8)
        ind_domain = np.array([domain_of[i[0]] for i in indicators])
        ind_offset = np.array([_INDICATOR_OFFSET[i] for i in indicators])
        share = np.array([_RATED_SHARE.get(p.activity, 0.92) for p in b.projects])[b.project]
        rated = rng.random(b.n) < share
        span = b.last - b.first
        completed = b.status == STATUSES.index("completed")
        withdrew = b.status == STATUSES.index("withdrew")
        interim = rated & b.spec.interim & (span >= 8) & (rng.random(b.n) < 0.85)
        p_follow = np.where(~b.lockdown,
                            np.where(completed, 0.9, np.where(withdrew, 0.2, 0.5)),
                            (1 - b.spec.lockdown_loss) * np.where(withdrew, 0.35, 0.9))
        follow = rated & (span >= 2) & (rng.random(b.n) < p_follow)
        online = rng.integers(_ONLINE_WINDOW[0], _ONLINE_WINDOW[1] + 1, b.n)
        ability = _OUTCOME_MEAN[b.target] + rng.normal(0, 0.55, (b.n, 3))
        growth = rng.normal(0.7, 0.12, 3)[None, :] + rng.normal(0, 0.3, (b.n, 3))
        # tutors: one per group of up to 30 young people in each project
        tutor = np.zeros(b.n, np.int64)
        base = 0
        for p in range(len(b.projects)):
            members = np.flatnonzero(b.project == p)
            tutor[members] = base + np.arange(len(members)) // 30 + 1
            base += -(-len(members) // 30)
        # (participant, wave) grids for baseline, interim, follow-up
        has = np.column_stack([rated, interim, follow])
        day = np.column_stack([b.day(b.first), b.day((b.first + b.last) // 2),
                               np.where(b.lockdown, online, b.day(b.last))])
        t = np.column_stack([np.zeros(b.n), np.full(b.n, 0.5),
                             np.where(b.lockdown, 0.8, np.where(withdrew, 0.5, 1.0))])
        covered = rng.random((b.n, 3, 3)) < np.array(b.spec.coverage)[None, None, :]
        keep = (has[:, :, None] & covered[:, :, ind_domain]
                & (rng.random((b.n, 3, k)) < 0.96))
        latent = (ability[:, None, ind_domain] + t[:, :, None] * growth[:, None, ind_domain]
                  + ind_offset[None, None, :] + rng.normal(0, 0.45, (b.n, 3, k)))
        rating = np.clip(np.rint(latent), 1, 5).astype(np.int8)
        who, wave, j = np.nonzero(keep)  # ordered by participant, wave, indicator
        parts.append(dict(row=(b.offset + who).astype(np.int64), wave=wave.astype(np.int8),
                          indicator=ind_code[j], rating=rating[who, wave, j],
                          tutor=tutor[who].astype(np.int32), day=day[who, wave],
                          service=np.full(len(who), b.spec_index, np.int32),
                          year=np.full(len(who), b.year_index, np.int8)))
        del keep, latent, rating, who, wave, j
    keys = ("row", "wave", "indicator", "rating", "tutor", "day", "service", "year")
    cols = {}
    for key in keys:
        cols[key] = (np.concatenate([p[key] for p in parts]) if parts
                     else np.zeros(0, np.int64))
        for p in parts:
            del p[key]
    max_tutor = int(cols["tutor"].max()) if len(cols["tutor"]) else 0
    return _frame("outcome_ratings", {
        "participant": pd.array(pid.take(pa.array(cols.pop("row"))), dtype=_STRING),
        "service": _strings([s.service for s in specs], cols.pop("service")),
        "year": _strings(PROGRAMME_YEARS, cols.pop("year")),
        "wave": _strings(OUTCOME_WAVES, cols.pop("wave")),
        "indicator": _strings(_ALL_INDICATORS, cols.pop("indicator")),
        "rating": _ints(cols.pop("rating")),
        "rater": _strings([f"Tutor {k}" for k in range(max_tutor + 1)], cols.pop("tutor")),
        "date": _dates(cols.pop("day")),
    })


def _indicators_frame() -> pd.DataFrame:
    domain = {"P": "personal", "S": "social", "M": "musical"}
    return _frame("outcome_indicators", {
        "indicator": pd.array(list(_ALL_INDICATORS), dtype=_STRING),
        "domain": pd.array([domain[i[0]] for i in _ALL_INDICATORS], dtype=_STRING),
        "text": pd.array([_INDICATOR_TEXT[i] for i in _ALL_INDICATORS], dtype=_STRING),
    })


def _benchmarks_frame(specs: Sequence[_Spec]) -> pd.DataFrame:
    rows = []
    seen: set[str] = set()
    for spec in specs:
        if spec.local_authority in seen:
            continue
        seen.add(spec.local_authority)
        for phase in ("primary", "secondary", "all"):
            shares = _phase_area(spec.area, phase)
            for characteristic in CHARACTERISTICS:
                rows.append((spec.local_authority, phase, characteristic, shares[characteristic]))
    n = len(rows)
    return _frame("benchmarks", {
        "local_authority": pd.array([r[0] for r in rows], dtype=_STRING),
        "phase": pd.array([r[1] for r in rows], dtype=_STRING),
        "characteristic": pd.array([r[2] for r in rows], dtype=_STRING),
        "share": np.array([r[3] for r in rows], float),
        "source": pd.array([BENCHMARK_SOURCE] * n, dtype=_STRING),
        "source_year": pd.array([BENCHMARK_SOURCE_YEAR] * n, dtype=_STRING),
    })


# --------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------

#: Illustrative statements written for the sample (not Youth Music's wording), 20/20/21.
_STATEMENTS: dict[int, tuple[str, ...]] = {
    1: (
        "Our vision and mission say who we exist for and commit us to equality, diversity "
        "and inclusion.",
        "The board or governing body has agreed an ED&I strategy with measurable aims.",
        "A named senior leader is responsible for ED&I and reports progress to the board.",
        "ED&I is a standing item at senior leadership meetings.",
        "Our business plan includes ED&I objectives with resources allocated to them.",
        "We collect data on who takes part in our activities and who does not.",
        "We compare our participation data with the local population of children and young "
        "people.",
        "We use what the data show to set priorities for reaching under-represented groups.",
        "We know the main barriers that stop young people in our area taking part in music.",
        "Young people are involved in decisions about our strategy.",
        "Staff at all levels can explain why inclusion matters to the service.",
        "We have an ED&I action plan that is reviewed at least once a year.",
        "We share our ED&I aims with schools, the music education hub and other partners.",
        "We work with local authority teams that support vulnerable children and young "
        "people.",
        "Our communications show the diversity of the young people we work with.",
        "Our materials are available in accessible formats and community languages on "
        "request.",
        "We ask families and communities we do not yet reach what would help them take part.",
        "We evaluate the personal and social outcomes of our work as well as the musical "
        "ones.",
        "We learn from other organisations about inclusive practice and share our own "
        "learning.",
        "We have a financial model that can sustain inclusive work beyond project funding.",
    ),
    2: (
        "We have an equality policy that is reviewed regularly and known to all staff.",
        "Our safeguarding policy covers the needs of young people facing additional barriers.",
        "We monitor the diversity of our board, staff and freelance tutors.",
        "Our workforce reflects the communities we serve, or we have a plan to make it do so.",
        "Job adverts are placed where they will reach a wide and diverse pool of applicants.",
        "Job descriptions value a range of musical genres, experience and routes into music.",
        "Recruitment panels are trained in fair and inclusive recruitment.",
        "We offer reasonable adjustments to applicants and staff.",
        "Induction for new staff includes ED&I and inclusive practice.",
        "All tutors take part in CPD on inclusive practice each year.",
        "Tutors have time built into their contracts for reflective practice.",
        "Staff can get support and supervision when working with young people in "
        "challenging circumstances.",
        "We have a clear procedure for reporting and responding to discrimination and "
        "bullying.",
        "Our charging and remissions policy removes cost as a barrier for low-income "
        "families.",
        "Instrument loans are free or subsidised for young people who need them.",
        "We collect equality information sensitively and explain to families why we ask.",
        "Our venues are physically accessible, or we make other arrangements when they are "
        "not.",
        "Our data protection procedures cover the sensitive information we hold on young "
        "people.",
        "Performance management for managers includes ED&I objectives.",
        "We review our policies with input from young people and families.",
    ),
    3: (
        "Our programme includes activities designed with and for young people facing the "
        "biggest barriers.",
        "We offer a range of musical genres, styles and practices, valued equally.",
        "Young people can influence the content and style of the sessions they attend.",
        "Activities take place in settings and at times that suit the young people we want "
        "to reach.",
        "We work in special schools and alternative provision as well as mainstream schools.",
        "Tutors adapt sessions to individual needs, interests and starting points.",
        "Tutors plan for personal and social outcomes alongside musical ones.",
        "Adapted instruments and music technology are available for those who need them.",
        "We have clear progression routes from projects into regular music-service "
        "provision.",
        "Young people who leave a project are followed up and offered other routes.",
        "Our ensembles and music centres reflect the diversity of young people in the area.",
        "We agree expectations and lines of communication with schools before projects "
        "start.",
        "We work with SENCOs and teaching assistants to understand young people's needs.",
        "Information about young people's needs is passed on when they move school or "
        "activity.",
        "Progress reports record personal and social development as well as musical "
        "progress.",
        "Young people have a way to give feedback on every activity.",
        "Performance opportunities are open to all young people, whatever their level.",
        "Young people have opportunities to lead, such as young music leader roles.",
        "We involve parents and carers in their children's musical progress.",
        "Projects are evaluated and what we learn changes our core offer.",
        "Case studies and tutors' observations are used as evidence alongside data.",
    ),
}
#: Statements that some services judge not applicable to them.
_MAYBE_NOT_APPLICABLE = ("2.15", "2.17", "2.19", "3.05", "3.18")
_RATER_ROLES = ("Head of service", "Inclusion lead", "Project manager", "Tutor A", "Tutor B",
                "Deputy head of service", "Board member", "Tutor C", "Tutor D")
_COMMENTS = {
    1: ("Not in place yet; on the action plan.", "No data collected on this yet.",
        "Discussed but nothing agreed.", "Not something we have looked at before."),
    2: ("Started; draft in progress.", "Happens in projects but not across the service.",
        "Partly; depends on the school.", "Some evidence, not consistent.",
        "Improved since lockdown; more to do."),
    3: ("In place and reviewed annually.", "Evidence: board minutes.",
        "Evidence: tutor handbook updated.", "Part of every project plan now.",
        "Embedded in our CPD programme."),
    0: ("Not relevant to how we work.", "We do not manage our own venues."),
}


def _statements_frame() -> pd.DataFrame:
    refs, sections, texts = [], [], []
    for section, statements in _STATEMENTS.items():
        for i, text in enumerate(statements, start=1):
            refs.append(f"{section}.{i:02d}")
            sections.append(section)
            texts.append(text)
    return _frame("audit_statements", {
        "statement": pd.array(refs, dtype=_STRING),
        "section": pd.array(sections, dtype="Int64"),
        "text": pd.array(texts, dtype=_STRING),
    })


def _audit_frame(seed: int, specs: Sequence[_Spec], statements: pd.DataFrame) -> pd.DataFrame:
    refs = statements["statement"].to_numpy(dtype=object)
    section = statements["section"].to_numpy(dtype=np.int64)
    difficulty = _rng(seed, "audit", 0).normal(0, 0.35, len(refs))
    section_effect = np.array([0.0, -0.05, 0.15, -0.10])[section]
    section_growth = np.array([0.0, 1.2, 0.8, 1.0])[section]
    records: list[pd.DataFrame] = []
    for index, spec in enumerate(specs):
        rng = _rng(seed, "audit", 1, index)
        latent = (spec.audit_level + section_effect + difficulty
                  + rng.normal(0, 0.3, len(refs)))
        growth = spec.audit_growth * section_growth + rng.normal(0, 0.2, len(refs))
        not_applicable = np.isin(refs, rng.choice(_MAYBE_NOT_APPLICABLE,
                                                  int(rng.integers(0, 3)), replace=False))
        k = int(rng.choice([2, 3, 4], p=[0.3, 0.45, 0.25]))
        others = list(rng.choice(np.arange(1, len(_RATER_ROLES)), k - 1, replace=False))
        baseline_raters = [_RATER_ROLES[0]] + [_RATER_ROLES[i] for i in sorted(others)]
        follow_raters = list(baseline_raters)
        spare = [r for r in _RATER_ROLES if r not in baseline_raters]
        u = rng.random()
        if u < 0.3 and len(follow_raters) > 2:  # someone left; a new colleague rated instead
            follow_raters[-1] = spare[int(rng.integers(len(spare)))]
        elif u < 0.5 and len(follow_raters) < 4:
            follow_raters.append(spare[int(rng.integers(len(spare)))])
        meeting = {"baseline": _day("2019-07-08") + int(rng.integers(0, 11)),
                   "july": _day("2020-07-06") + int(rng.integers(0, 11)),
                   "september": _day("2020-09-14") + int(rng.integers(0, 8))}
        window = {"baseline": (_day("2019-07-01"), _day("2019-07-31")),
                  "july": (_day("2020-07-01"), _day("2020-07-31")),
                  "september": (_day("2020-09-01"), _day("2020-09-30"))}
        waves = [("baseline", "baseline", baseline_raters)]
        if spec.audit_follow_up is not None:
            waves.append(("follow-up", spec.audit_follow_up, follow_raters))
        for wave, when, raters in waves:
            level = latent + (growth if wave == "follow-up" else 0.0)
            for rater in raters:
                leniency = rng.normal(0, 0.15)
                rating = np.clip(np.rint(level + leniency + rng.normal(0, 0.33, len(refs))),
                                 1, 3).astype(np.int64)
                status = np.zeros(len(refs), np.int64)  # rated
                na = (not_applicable & (rng.random(len(refs)) < 0.8)) | (
                    rng.random(len(refs)) < 0.005)
                blank = rng.random(len(refs)) < 0.02
                status[blank] = 1  # not rated
                status[na] = 2  # not applicable
                pool_pick = rng.random(len(refs))
                has_comment = rng.random(len(refs)) < np.where(status == 2, 0.6, 0.15)
                has_comment &= status != 1
                comment = np.full(len(refs), None, object)
                for i in np.flatnonzero(has_comment):
                    pool = _COMMENTS[0 if status[i] == 2 else int(rating[i])]
                    comment[i] = pool[int(pool_pick[i] * len(pool))]
                day = int(np.clip(meeting[when] + int(rng.integers(-5, 11)), *window[when]))
                records.append(pd.DataFrame({
                    "service": spec.service, "wave": wave, "rater": rater, "statement": refs,
                    "rating": _ints(rating, status != 0),
                    "status_code": status, "day": day, "comment": comment,
                }))
    if records:
        audit = pd.concat(records, ignore_index=True)
    else:
        audit = pd.DataFrame({c: [] for c in ("service", "wave", "rater", "statement", "rating",
                                              "status_code", "day", "comment")})
    return _frame("audit_ratings", {
        "service": pd.array(audit["service"].to_numpy(object), dtype=_STRING),
        "wave": pd.array(audit["wave"].to_numpy(object), dtype=_STRING),
        "rater": pd.array(audit["rater"].to_numpy(object), dtype=_STRING),
        "statement": pd.array(audit["statement"].to_numpy(object), dtype=_STRING),
        "rating": pd.array(audit["rating"], dtype="Int64"),
        "status": _strings(AUDIT_STATUSES, audit["status_code"].to_numpy(np.int64)),
        "date": _dates(audit["day"].to_numpy(np.int64)),
        "comment": pd.array(audit["comment"].to_numpy(object), dtype=_STRING),
    })


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def _check_share(name: str, value: object) -> None:
    """A share above 0 and at most 1 (a plain number, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number above 0 and at most 1; found {value!r}")


def _check_int(name: str, value: object, minimum: int, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}"
                         + (" or None" if allow_none else "") + f"; found {value!r}")


def generate(
    seed: int = 2020,
    n_services: int | None = None,
    participants_per_service: int | None = None,
    *,
    attendance: bool = True,
    outcomes: bool = True,
    sessions_per_participant: int | None = None,
    wellbeing_share: float = 1.0,
) -> dict[str, pd.DataFrame]:
    """Make a synthetic data set: one DataFrame per table in ``contracts.TABLES``.

    The data are invented but shaped like the partners' real data (see the module
    docstring): the same arguments always give the same frames, and each table and
    service draws from its own random stream, so turning a table off or adding
    services leaves the rest unchanged.

    Parameters
    ----------
    seed : int, default 2020
        Seed of every random stream (a whole number ≥ 0).
    n_services : int, optional
        Number of services. ``None`` gives the eight partners named in the 2019-20 learning
        report; fewer takes the first ones in the report's order (Essex, Hertfordshire,
        Waltham Forest, Cornwall, Southampton, Cambridgeshire, Norfolk, Resonate); more adds
        synthetic services "Service 009", … with synthetic local authorities.
    participants_per_service : int, optional
        Young people per service and programme year (continuing ones included). ``None``
        gives 12-60 per service, varying by service and year.
    attendance : bool, default True
        Whether to make the attendance register (one row per participant and session
        offered: about 15 rows per participant). ``False`` gives an empty table, for
        national-scale runs.
    outcomes : bool, default True
        Whether to make tutor-rated outcomes (about 10-25 rows per participant).
        ``False`` gives an empty ``outcome_ratings`` table (indicators are still listed).
    sessions_per_participant : int, optional
        Weekly sessions each term-time project offers (and each rolling-intake participant
        is offered); holiday projects offer at most this many. ``None`` gives 10-30 by
        project. Smaller values shrink the attendance register.
    wellbeing_share : float, default 1
        Share (above 0, at most 1) of the usual number of young people who fill in a
        baseline questionnaire, and so of the questionnaires; 1 gives the usual number.
        Benchmarks use it to set how many questionnaires a national data set has.

    Returns
    -------
    dict of str to pandas.DataFrame
        Keys as in ``contracts.TABLES`` (services, audit_statements, audit_ratings,
        wellbeing, participants, attendance, outcome_indicators, outcome_ratings,
        benchmarks), each with exactly the contract's columns in contract order and the
        types the loader produces: text as pandas ``string`` (missing ``<NA>``), integers
        and ratings as ``Int64``, booleans as ``boolean``, dates as ``datetime64[ns]``,
        shares as float. ``audit_ratings`` has ``status`` filled and ``date`` = the day the
        rater completed the workbook.
    """
    builders, _, _ = _builders(seed, n_services, participants_per_service,
                               attendance=attendance, outcomes=outcomes,
                               sessions_per_participant=sessions_per_participant,
                               wellbeing_share=wellbeing_share)
    return {name: build() for name, build in builders.items()}


def _builders(seed: int, n_services: int | None, participants_per_service: int | None, *,
              attendance: bool, outcomes: bool, sessions_per_participant: int | None,
              wellbeing_share: float,
              ) -> tuple[dict[str, Callable[[], pd.DataFrame]], list[_Spec],
                         dict[str, Callable[[], Iterator[pd.DataFrame]]]]:
    """One function per table (in contract order) that builds it from the shared blocks,
    the services' specs, and for the attendance register a function giving it in parts.

    :func:`write_sample` builds, writes and drops one table at a time, and writes the
    register part by part, so national-scale runs never hold every large table (nor a
    register of a hundred million sessions) in memory at once.
    """
    _check_int("seed", seed, 0, allow_none=False)
    _check_int("n_services", n_services, 1)
    _check_int("participants_per_service", participants_per_service, 1)
    _check_int("sessions_per_participant", sessions_per_participant, 1)
    _check_share("wellbeing_share", wellbeing_share)
    seed = int(seed)
    specs = _specs(seed, None if n_services is None else int(n_services))
    blocks = _blocks(seed, specs, None if participants_per_service is None
                     else int(participants_per_service),
                     None if sessions_per_participant is None else int(sessions_per_participant))
    pieces = [_id_strings(b.spec.prefix, b.number, b.width) for b in blocks]
    pid = (pa.concat_arrays(pieces) if len(pieces) > 1
           else pieces[0] if pieces else pa.array([], pa.large_string()))
    statements = _statements_frame()
    builders: dict[str, Callable[[], pd.DataFrame]] = {
        "services": lambda: _services_frame(specs),
        "audit_statements": lambda: statements,
        "audit_ratings": lambda: _audit_frame(seed, specs, statements),
        "wellbeing": lambda: _wellbeing_frame(seed, blocks, specs, pid, float(wellbeing_share)),
        "participants": lambda: _participants_frame(blocks, specs, pid),
        "attendance": lambda: _attendance_frame(seed, blocks if attendance else [], pid),
        "outcome_indicators": _indicators_frame,
        "outcome_ratings": lambda: _outcome_frames(seed, blocks if outcomes else [], specs, pid),
        "benchmarks": lambda: _benchmarks_frame(specs),
        "stages": lambda: _workforce(seed, specs, workforce)["stages"],
        "tutors": lambda: _workforce(seed, specs, workforce)["tutors"],
        "cpd": lambda: _workforce(seed, specs, workforce)["cpd"],
    }
    workforce: dict[str, pd.DataFrame] = {}
    parts = {"attendance": lambda: _attendance_parts(seed, blocks if attendance else [], pid)}
    return {name: builders[name] for name in TABLES if name in builders}, specs, parts


#: Register rows generated and written at a time by :func:`write_sample`.
_REGISTER_PART_ROWS = 4_000_000


def _attendance_parts(seed: int, blocks: Sequence[_Block], pid: pa.Array
                      ) -> Iterator[pd.DataFrame]:
    """The attendance register in consecutive parts of whole blocks (at least one part);
    concatenated they equal :func:`_attendance_frame` of all the blocks."""
    group: list[_Block] = []
    rows = 0
    for b in blocks:
        group.append(b)
        rows += int((b.last - b.first + 1).sum())
        if rows >= _REGISTER_PART_ROWS:
            yield _attendance_frame(seed, group, pid)
            group, rows = [], 0
    if group or not blocks:
        yield _attendance_frame(seed, group, pid)


def _workforce(seed: int, specs: Sequence[_Spec], cache: dict) -> dict[str, pd.DataFrame]:
    """Stages of inclusion, tutors and CPD (see :mod:`changing_tracks.sample_workforce`), made once."""
    if not cache:
        from .sample_workforce import generate_workforce

        cache.update(generate_workforce(_services_frame(specs), seed=seed))
    return cache


# --------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------

def _arrow_text_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow columns that the CSV writer renders in the project's conventions."""
    arrays = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.StringDtype) or col.dtype == object:
            arrays[name] = pa.array(col.astype(_STRING).array)
        elif isinstance(col.dtype, pd.BooleanDtype):
            codes = col.to_numpy(dtype="int8", na_value=-1)
            arrays[name] = pa.DictionaryArray.from_arrays(
                pa.array(np.clip(codes, 0, 1), mask=codes < 0), pa.array(["no", "yes"]))
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            values = col.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
            arrays[name] = pa.array(values, mask=col.isna().to_numpy())
        elif pd.api.types.is_float_dtype(col.dtype):
            arrays[name] = pa.array([None if pd.isna(v) else f"{v:.3f}" for v in col],
                                    pa.large_string())
        else:
            arrays[name] = pa.array(col.astype("Int64"))
    return pa.table(arrays)


def _csv_bytes_pandas(table: pa.Table) -> bytes:
    """CSV text of an Arrow table via pandas (minimal quoting), for text with commas."""
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(pa.large_string())
        if pa.types.is_date(col.type):
            values = [None if v is None else v.isoformat() for v in col.to_pylist()]
        else:
            values = [None if v is None else str(v) for v in col.to_pylist()]
        columns[name] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(columns)
    return frame.to_csv(index=False, lineterminator="\n", na_rep="",
                        quoting=csv.QUOTE_MINIMAL).encode("utf-8")


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write UTF-8 CSV with "\\n" line endings, ISO dates, yes/no, blanks; atomically."""
    table = _arrow_text_table(frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    header = (",".join(table.column_names) + "\n").encode("utf-8")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            pa_csv.write_csv(table, fh, write_options=pa_csv.WriteOptions(
                include_header=False, quoting_style="none", batch_size=1 << 16))
    except pa.ArrowInvalid:  # text that needs quoting (commas, quotes): small tables
        tmp.write_bytes(_csv_bytes_pandas(table))
    os.replace(tmp, path)
    return path


def _write_csv_parts(frames: Iterable[pd.DataFrame], path: Path) -> tuple[Path, int]:
    """Write frames one after another as one CSV (as :func:`_write_csv` would write their
    concatenation), holding one part in memory at a time; returns the path and row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    rows = 0
    with open(tmp, "wb") as fh:
        for i, frame in enumerate(frames):
            table = _arrow_text_table(frame)
            rows += len(frame)
            del frame
            if i == 0:
                fh.write((",".join(table.column_names) + "\n").encode("utf-8"))
            pa_csv.write_csv(table, fh, write_options=pa_csv.WriteOptions(
                include_header=False, quoting_style="none", batch_size=1 << 16))
            del table
    os.replace(tmp, path)
    return path, rows


def _write_text(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def write_sample(
    out_dir: str | os.PathLike,
    seed: int = 2020,
    n_services: int | None = None,
    participants_per_service: int | None = None,
    *,
    audit_format: str = "workbooks",
    attendance: bool = True,
    outcomes: bool = True,
    sessions_per_participant: int | None = None,
    wellbeing_share: float = 1.0,
) -> list[Path]:
    """Write a synthetic data set as the files the loaders read, with a README.

    Writes ``services.csv``, ``audit_statements.csv``, ``wellbeing.csv``,
    ``participants.csv``, ``attendance.csv``, ``outcome_indicators.csv``,
    ``outcome_ratings.csv``, ``benchmarks.csv`` (UTF-8, "\\n" line endings, ISO dates,
    yes/no, blanks for missing values) and the audit: a folder ``audit/`` of Youth Music
    workbooks, one per service, wave and rater (``audit_format="workbooks"``), or a
    single ``audit_ratings.csv`` (``audit_format="csv"``, quicker at national scale).
    Each file is written to a temporary name and renamed, and the same arguments give
    byte-identical files. Audit files of the other format left by an earlier run in
    ``out_dir`` (``audit/*.xlsx`` or ``audit_ratings.csv``) are removed, so the folder
    always holds one copy of the audit.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if missing).
    seed, n_services, participants_per_service, attendance, outcomes, sessions_per_participant,
    wellbeing_share
        As for :func:`generate`.
    audit_format : {"workbooks", "csv"}, default "workbooks"
        How to write the audit ratings.

    Returns
    -------
    list of pathlib.Path
        Every file written, README last.
    """
    if audit_format not in ("workbooks", "csv"):
        raise ValueError(f"audit_format must be 'workbooks' or 'csv'; found {audit_format!r}")
    builders, specs, parts = _builders(seed, n_services, participants_per_service,
                                       attendance=attendance, outcomes=outcomes,
                                       sessions_per_participant=sessions_per_participant,
                                       wellbeing_share=wellbeing_share)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    audit_dir = out / "audit"
    written: list[Path] = []
    facts: dict[str, object] = {}
    statements = builders["audit_statements"]()
    for name, build in builders.items():
        if name in parts:  # written part by part: the register can be very large
            path, facts[name] = _write_csv_parts(parts[name](), out / TABLES[name].file)
            written.append(path)
            continue
        frame = build()
        facts[name] = len(frame)
        if name == "audit_ratings":
            facts["workbooks"] = len(frame.groupby(["service", "wave", "rater"]))
            facts["followed"] = sorted(set(frame.loc[frame["wave"] == "follow-up", "service"]))
            if audit_format == "csv":
                written.append(_write_csv(_audit_csv_frame(frame), out / "audit_ratings.csv"))
                for stale in sorted(audit_dir.glob("*.xlsx")) if audit_dir.is_dir() else []:
                    stale.unlink()
            else:
                written.extend(_write_workbooks(frame, statements, specs, audit_dir))
                (out / "audit_ratings.csv").unlink(missing_ok=True)
        else:
            written.append(_write_csv(frame, out / TABLES[name].file))
        if name == "participants":
            facts["per_year"] = frame.groupby("year").size().to_dict()
        elif name == "wellbeing":
            facts["primary_age"] = int((frame["age"] < 11).sum())
        del frame
    written.append(_write_text(_readme(facts, specs, seed, n_services, participants_per_service,
                                       audit_format, attendance, outcomes,
                                       sessions_per_participant, wellbeing_share),
                               out / "README.md"))
    return written


def _audit_csv_frame(audit: pd.DataFrame) -> pd.DataFrame:
    """Audit ratings as written to CSV: rating 1-3, "N/A" (not applicable) or blank."""
    frame = audit.copy()
    frame["rating"] = pd.array(
        ["N/A" if s == "not applicable" else (None if pd.isna(r) else str(int(r)))
         for r, s in zip(audit["rating"].astype(object), audit["status"])], dtype=_STRING)
    return frame


def _write_workbooks(audit: pd.DataFrame, statements: pd.DataFrame, specs: Sequence[_Spec],
                     audit_dir: Path) -> list[Path]:
    """One Youth Music workbook per service, wave and rater; stale workbooks removed."""
    by_id = {spec.service: spec for spec in specs}
    written = []
    audit_dir.mkdir(parents=True, exist_ok=True)
    groups = audit.groupby(["service", "wave", "rater"], sort=False)
    for (service, wave, rater), part in groups:
        spec = by_id[service]
        organisation = spec.name
        if wave == "follow-up" and spec.follow_up_organisation:
            organisation = spec.follow_up_organisation
        ratings = part[["statement", "rating", "status", "comment"]].reset_index(drop=True)
        written.append(write_audit_workbook(
            audit_dir / workbook_file_name(service, wave, rater), ratings, statements,
            organisation=organisation, rater=rater, wave=wave,
            completed=part["date"].iloc[0].date(), rating_style=spec.rating_style))
    keep = {p.name for p in written}
    for stale in sorted(audit_dir.glob("*.xlsx")):
        if stale.name not in keep:
            stale.unlink()
    return written


def _readme(facts: dict, specs: Sequence[_Spec], seed: int, n_services: int | None,
            participants_per_service: int | None, audit_format: str, attendance: bool,
            outcomes: bool, sessions_per_participant: int | None,
            wellbeing_share: float) -> str:
    """README text: what the files are (synthetic, illustrative) and how they were made."""
    command = f"python -m changing_tracks sample --out data/sample --seed {seed}"
    if n_services is not None:
        command += f" --services {n_services}"
    if participants_per_service is not None:
        command += f" --participants-per-service {participants_per_service}"
    extras = []
    if audit_format != "workbooks":
        extras.append(f"audit_format={audit_format!r}")
    if not attendance:
        extras.append("attendance=False")
    if not outcomes:
        extras.append("outcomes=False")
    if sessions_per_participant is not None:
        extras.append(f"sessions_per_participant={sessions_per_participant}")
    if wellbeing_share != 1:
        extras.append(f"wellbeing_share={wellbeing_share}")
    follow_services = facts["followed"]
    no_follow = [s.name for s in specs if s.service not in follow_services]
    no_follow_text = (", ".join(no_follow[:5]) + (f" and {len(no_follow) - 5} more"
                                                  if len(no_follow) > 5 else ""))
    young = facts["primary_age"]
    per_year = facts["per_year"]
    n_workbooks = facts["workbooks"]
    lines = [
        "# Sample data (synthetic)",
        "",
        "**These data are synthetic.** They were made up by `changing_tracks.sample` from a "
        "random seed to look like the data the Changing Tracks partner music services "
        "collect, so that the library, notebooks and reports can be tried and tested. They "
        "are **illustrative, not the partners' real results**: no real young person, tutor, "
        "questionnaire or audit rating is in them. The partner names, local authorities and "
        "programme years are real (from the 2019-20 learning report); everything recorded "
        "about them is invented.",
        "",
        "## How it was made",
        "",
        "```",
        command,
        "```",
    ]
    if extras:
        lines += ["", "with `changing_tracks.sample.write_sample(..., " + ", ".join(extras)
                  + ")`."]
    lines += [
        "",
        "The same seed gives byte-identical files.",
        "",
        "## Files",
        "",
        "| File | Rows | What |",
        "|---|---:|---|",
        f"| `services.csv` | {facts['services']} | The partner music services, their aliases "
        "(e.g. Herts → hertfordshire), local authority, region, year joined and focus. |",
        f"| `audit_statements.csv` | {facts['audit_statements']} | ED&I self-assessment "
        "statements in three sections (20, 20, 21). **Illustrative statement texts written "
        "for this sample, not Youth Music's wording.** |",
    ]
    if audit_format == "workbooks":
        lines.append(
            f"| `audit/` | {n_workbooks} workbooks, {facts['audit_ratings']} ratings | One "
            "Youth Music layout workbook per service, wave and rater (Summary sheet plus one "
            "sheet per section; ratings as 1-3 or as Not met / Partially met / Fully met; N/A = "
            "not applicable; blank = not rated). |")
    else:
        lines.append(
            f"| `audit_ratings.csv` | {facts['audit_ratings']} | One row per service, wave, "
            "rater and statement; rating 1-3, N/A (not applicable) or blank (not rated). |")
    lines += [
        f"| `wellbeing.csv` | {facts['wellbeing']} | WEMWBS and SWEMWBS questionnaires at "
        "baseline and follow-up; items stored by key, never the item wording. |",
        f"| `participants.csv` | {facts['participants']} | Young people per programme year "
        + "(" + ", ".join(f"{y}: {n}" for y, n in per_year.items()) + ") with activity, "
        "setting, characteristics, dates, status and progression. |",
        f"| `attendance.csv` | {facts['attendance']} | Registers: one row per "
        "participant and session offered." + ("" if attendance else
                                              " Left empty for this run (header only).")
        + " |",
        f"| `outcome_indicators.csv` | {facts['outcome_indicators']} | The outcomes "
        "framework: personal, social and musical indicators (illustrative). |",
        f"| `outcome_ratings.csv` | {facts['outcome_ratings']} | Tutor ratings 1-5 "
        "at baseline, interim and follow-up." + ("" if outcomes else
                                                 " Left empty for this run (header only).")
        + " |",
        f"| `benchmarks.csv` | {facts['benchmarks']} | Population shares per local "
        "authority and phase. **Illustrative figures near the national rates, not DfE's "
        "published figures for these areas.** |",
        f"| `stages.csv` | {facts['stages']} | Each service's self-placement on the Changing "
        "Tracks stages of inclusion (exclusion → inclusion) per area, at baseline and "
        "follow-up. |",
        f"| `tutors.csv` | {facts['tutors']} | Pseudonymous tutors per service and year: role, "
        "contract, genres and practices, optional characteristics. |",
        f"| `cpd.csv` | {facts['cpd']} | CPD and reflective-practice sessions tutors took part "
        "in (topics as in the 2019-20 learning report; online from April 2020). |",
        "",
        "## What is built in",
        "",
        "- **Lockdown.** No sessions from 23 March 2020. In 2019-20 many follow-up "
        "questionnaires and outcome ratings are missing (the share lost varies by service), "
        "some young people are left `active` with no end date, more withdrew, and late "
        "follow-ups were collected online between April and July 2020.",
        "- **Audit.** Baseline in July 2019 for every service; follow-up in July 2020 or, "
        "delayed by the pandemic, September 2020"
        + (f"; no follow-up yet for {no_follow_text}" if no_follow else "")
        + ". Two to four raters per service and wave, who sometimes disagree by two points; "
        "a few statements not rated or not applicable; comments on some."
        + (" Hertfordshire's follow-up workbooks name the organisation \"Herts\", as "
           "people do." if "hertfordshire" in follow_services and audit_format == "workbooks"
           else ""),
        f"- **Wellbeing.** WEMWBS for secondary-age young people, SWEMWBS in some services; "
        f"{young} questionnaires come from primary-age respondents (9-10), **outside the "
        "scales' validated age range**, on purpose, so that the reports flag them. A few "
        "questionnaires are partly answered.",
        "- **Participation.** Several activity types and settings per service; priority "
        "groups (free school meals, SEN, looked-after, young carers) over-represented in "
        "targeted projects and alternative provision; some characteristics not recorded; "
        "some young people continue from 2018-19 into 2019-20 with the same id; some "
        "progress into regular music-service provision.",
        "- **Outcomes.** Some services rate musical indicators more consistently than "
        "personal and social ones, so the 'valued equally' check finds gaps.",
        "",
        "Participant ids (e.g. `HER-0012`) are pseudonyms made up for the sample; they are "
        "used only to link tables and are never published.",
        "",
        "WEMWBS and SWEMWBS are copyright © NHS Health Scotland, University of Warwick and "
        "University of Edinburgh (WEMWBS 2006, SWEMWBS 2008), all rights reserved. These "
        "files hold item keys and made-up answers only, never the item wording.",
        "",
    ]
    return "\n".join(lines)
