"""Synthetic stages-of-inclusion, workforce and CPD records for the sample data set.

:func:`generate_workforce` makes the three tables of the workforce and
organisation part of the programme (``stages``, ``tutors`` and ``cpd`` in
:mod:`changing_tracks.contracts`) for a table of services. The records are
invented but shaped by the 2019-20 learning report (``shared/seeds``):

* **Stages of inclusion** -- each service places itself on the four stages
  (exclusion, segregation, integration, inclusion) in each of the seven areas
  at baseline (autumn of the year it joined) and follow-up (July or September
  2020, after lockdown). Most areas start at segregation or integration;
  recruitment and funding start lowest; CPD and pupil voice move on most; one
  or two areas move back; one service (a 2019 joiner when there is one) has no
  follow-up, as lockdown interrupted data collection.
* **Tutors** -- 8-25 pseudonymous tutors per service and year (``HER-T01``),
  most continuing into the next year with some turnover; mostly hourly or
  salaried instrumental tutors, a project lead, a manager, and young music
  leaders in Hertfordshire (its Young Music Leaders Award) and occasionally
  elsewhere. Classical and rock and pop dominate the genres, with some global,
  hip hop and grime and electronic. Characteristics are optional: a mostly
  white workforce (more diverse in London), some blanks.
* **CPD** -- the sessions the report names: critical reflection groups
  (half-termly in Essex, Hertfordshire and Waltham Forest, termly in
  2018-19; Hertfordshire added online groups in lockdown), mental health
  (Essex), music therapy approaches, project management and songwriting
  (Cornwall), student-led learning (Southampton), music technology (Essex,
  Waltham Forest), evaluation methods (Essex: WEMWBS; Southampton: case
  studies), inclusion training (Cambridgeshire, whole staff), hockets in whole
  class ensemble teaching as "other" (Hertfordshire). Services the report does
  not describe (e.g. synthetic ``service-009``) get a random two or three
  topics. Sessions in the second half of March 2020 did not happen; from April
  2020 every session is online; each session lasts 1-6 hours.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same services
and seed give the same tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .contracts import (
    CPD,
    CPD_TOPICS,
    ETHNICITY_GROUPS,
    GENRES,
    PRACTICES,
    STAGE_AREAS,
    STAGES,
    STAGES_TABLE,
    TUTORS,
    WAVES,
    programme_year,
)

__all__ = ["generate_workforce", "LOCKDOWN_START", "ONLINE_FROM"]

#: First day of the March 2020 lockdown: no sessions from here until ONLINE_FROM.
LOCKDOWN_START = date(2020, 3, 16)
#: From this date CPD sessions in the sample are online.
ONLINE_FROM = date(2020, 4, 1)
#: Until this date (the start of 2021-22) every session is online; later ones mix.
_ONLINE_UNTIL = date(2021, 9, 1)

_REFLECTION = "critical reflection group"

# Baseline stage probabilities (exclusion, segregation, integration, inclusion) by area, and
# the chance of moving on one stage by follow-up.
_BASELINE_STAGE = {
    "pupil voice": (0.20, 0.50, 0.30, 0.00),
    "settings": (0.05, 0.47, 0.45, 0.03),
    "workforce": (0.15, 0.55, 0.30, 0.00),
    "progression routes": (0.20, 0.55, 0.25, 0.00),
    "recruitment": (0.35, 0.50, 0.15, 0.00),
    "CPD": (0.05, 0.55, 0.40, 0.00),
    "funding": (0.30, 0.50, 0.20, 0.00),
}
_MOVE_ON = {"pupil voice": 0.40, "settings": 0.35, "workforce": 0.35, "progression routes": 0.30,
            "recruitment": 0.15, "CPD": 0.55, "funding": 0.15}
_PLACED_BY = ("senior leadership team", "head of service and inclusion lead",
              "EDI working group", "project manager with tutors")
_STAGE_COMMENTS = {
    "exclusion": "Not yet considered in {area}; no plan in place.",
    "segregation": "Inclusion work in {area} happens only within separate projects.",
    "integration": "Project practice in {area} is starting to reach core provision.",
    "inclusion": "Inclusive practice in {area} is part of core provision and planning.",
}
_MOVE_COMMENTS = {
    1: " Moved on since baseline.",
    -1: " Moved back: project funding ended and work paused in lockdown.",
}

# Genre and practice rates among tutors (each tutor teaches at least one).
_GENRE_RATE = {"classical": 0.60, "jazz": 0.14, "rock and pop": 0.50,
               "folk and traditional": 0.07, "global": 0.09, "hip hop and grime": 0.08,
               "electronic": 0.08, "musical theatre": 0.06, "gospel and choral": 0.07,
               "other": 0.02}
_PRACTICE_RATE = {"instrumental teaching": 0.80, "whole class ensemble": 0.40, "singing": 0.18,
                  "songwriting": 0.18, "music technology": 0.14, "improvisation": 0.14,
                  "ensemble direction": 0.20, "community music": 0.10,
                  "SEND and inclusive practice": 0.14, "mentoring": 0.08, "other": 0.02}
# Ethnicity of those recorded (asian, black, mixed, white, other); counties vs London.
_ETHNICITY_COUNTY = (0.03, 0.02, 0.03, 0.91, 0.01)
_ETHNICITY_LONDON = (0.11, 0.12, 0.07, 0.66, 0.04)

# Training topics and hours per session in the sample.
_HOURS = {
    _REFLECTION: (1.5, 2.0), "mental health": (3.0,), "music therapy approaches": (3.0, 2.5),
    "SEMH and behaviour": (2.0, 3.0), "music technology": (2.0, 3.0), "songwriting": (3.0, 2.0),
    "student-led learning": (2.0,), "evaluation methods": (2.0, 1.5),
    "project management": (2.0, 3.0), "inclusion training": (3.0, 6.0), "other": (2.0, 1.5),
}
_ONLINE_HOURS = {_REFLECTION: (1.0, 1.5)}

# What the learning report says each named service did, 2019-20: reflection frequency and
# training sessions per topic. Matched on the service id or name.
_PROFILES: tuple[tuple[str, dict], ...] = (
    ("essex", {"reflection": "half-termly", "training": {
        "mental health": 1, "music technology": 2, "evaluation methods": 1}}),
    ("hertfordshire|herts", {"reflection": "half-termly", "lockdown_extra": 3,
                             "young_music_leaders": True, "training": {"other": 1}}),
    ("waltham", {"reflection": "half-termly", "london": True, "training": {"music technology": 2}}),
    ("cornwall", {"reflection": None, "training": {
        "music therapy approaches": 2, "project management": 1, "songwriting": 2}}),
    ("southampton", {"reflection": None, "training": {
        "student-led learning": 2, "evaluation methods": 1}}),
    ("cambridgeshire|cambs", {"reflection": None, "training": {"inclusion training": 2},
                              "whole_staff": ("inclusion training",)}),
    ("norfolk", {"reflection": None, "training": {"SEMH and behaviour": 1}}),
    ("liverpool|resonate", {"reflection": None, "training": {
        "SEMH and behaviour": 1, "other": 1}}),
    ("hull", {"reflection": None, "training": {"inclusion training": 1}}),
)
_TRAINING_TOPICS = tuple(t for t in CPD_TOPICS if t not in (_REFLECTION, "other"))

# Half-term and term windows as (month, day) pairs from the start of a programme year.
_HALF_TERMS = (((9, 15), (10, 18)), ((11, 2), (12, 12)), ((1, 8), (2, 12)), ((2, 24), (3, 13)),
               ((4, 20), (5, 22)), ((6, 3), (7, 17)))
_TERMS = (((10, 1), (12, 10)), ((1, 15), (3, 13)), ((4, 27), (7, 15)))


def _profile(service: str, name: str, rng: np.random.Generator) -> dict:
    text = f"{service} {name}".lower()
    for pattern, profile in _PROFILES:
        if re.search(pattern, text):
            return profile
    topics = rng.choice(len(_TRAINING_TOPICS), size=int(rng.integers(2, 4)), replace=False)
    return {"reflection": "termly" if rng.random() < 0.4 else None,
            "training": {_TRAINING_TOPICS[i]: int(rng.integers(1, 3)) for i in sorted(topics)},
            "synthetic": True}


def _prefix(service: str, used: set[str]) -> str:
    """Tutor-id prefix: HER for hertfordshire, S09 for service-009; unique among services."""
    match = re.fullmatch(r"[a-z]*[-_ ]?0*(\d+)", service.lower())
    letters = re.sub(r"[^A-Za-z]", "", service).upper()
    if match:
        base = (letters[:1] or "S") + match.group(1).zfill(2)
    else:
        base = (letters[:3] or "SRV").ljust(3, "X")
    prefix, k = base, 2
    while prefix in used:
        prefix, k = f"{base}{k}", k + 1
    used.add(prefix)
    return prefix


def _day(rng: np.random.Generator, start: date, end: date) -> date:
    """A random weekday between start and end (inclusive), avoiding the lockdown gap."""
    for _ in range(50):
        day = start + timedelta(days=int(rng.integers(0, (end - start).days + 1)))
        if day.weekday() >= 5:
            day -= timedelta(days=day.weekday() - 4)
        if not (LOCKDOWN_START <= day < ONLINE_FROM):
            return day
    return ONLINE_FROM + timedelta(days=int(rng.integers(14, 40)))


def _window(start_year: int, window) -> tuple[date, date]:
    (m1, d1), (m2, d2) = window
    y1 = start_year if m1 >= 9 else start_year + 1
    y2 = start_year if m2 >= 9 else start_year + 1
    return date(y1, m1, d1), date(y2, m2, d2)


def _online(day: date) -> bool:
    return ONLINE_FROM <= day < _ONLINE_UNTIL


def _check_services(services: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(services, pd.DataFrame):
        raise ValueError(f"services must be a pandas DataFrame, not {type(services).__name__}")
    missing = [c for c in ("service", "cohort") if c not in services.columns]
    if missing:
        raise ValueError(f"services needs columns service and cohort (name and local_authority "
                         f"optional); missing {missing} (found {list(services.columns)})")
    out = pd.DataFrame({
        "service": services["service"].astype(str),
        "name": services["name"].astype(object).where(services["name"].notna(), "").astype(str)
        if "name" in services else "",
        "cohort": pd.to_numeric(services["cohort"], errors="coerce"),
    })
    if out["service"].duplicated().any():
        raise ValueError("services has a service listed twice: "
                         + ", ".join(sorted(set(out.loc[out['service'].duplicated(), 'service']))))
    if out["cohort"].isna().any():
        raise ValueError("services needs a cohort (year joined, e.g. 2019) for every service")
    return out.reset_index(drop=True)


def _join(values: Sequence[str], vocabulary: Sequence[str]) -> str:
    return "; ".join(v for v in vocabulary if v in set(values))


def _draw_list(rng: np.random.Generator, rates: dict[str, float], boost: dict[str, float],
               vocabulary: Sequence[str], at_least: str | None = None) -> str:
    chosen = [v for v in vocabulary if rng.random() < min(0.95, rates[v] * boost.get(v, 1.0))]
    if not chosen:
        weights = np.array([rates[v] * boost.get(v, 1.0) for v in vocabulary])
        chosen = [vocabulary[int(rng.choice(len(vocabulary), p=weights / weights.sum()))]]
    if at_least and at_least not in chosen:
        chosen.append(at_least)
    return _join(chosen, vocabulary)


def _new_tutor(rng: np.random.Generator, tid: str, role: str, london: bool,
               boost: dict[str, float]) -> dict:
    if role == "manager":
        contract = "salaried"
    elif role == "project lead":
        contract = "salaried" if rng.random() < 0.7 else "hourly"
    elif role == "young music leader":
        contract = "hourly" if rng.random() < 0.6 else "freelance"
    else:
        contract = str(rng.choice(["hourly", "salaried", "freelance"], p=[0.55, 0.30, 0.15]))
    practice_boost = {"SEND and inclusive practice": 2.5, "mentoring": 2.5,
                      "community music": 2.0} if role == "project lead" else {}
    if role == "young music leader":
        practice_boost = {"community music": 3.0, "songwriting": 2.0, "music technology": 2.0}
    genres = _draw_list(rng, _GENRE_RATE, boost, GENRES) if rng.random() > 0.03 else None
    practices = _draw_list(rng, _PRACTICE_RATE, practice_boost, PRACTICES,
                           "instrumental teaching" if role == "instrumental tutor"
                           and rng.random() < 0.7 else None) if rng.random() > 0.03 else None
    ethnicity = None
    if rng.random() > 0.14:
        p = _ETHNICITY_LONDON if london else _ETHNICITY_COUNTY
        ethnicity = str(ETHNICITY_GROUPS[int(rng.choice(len(p), p=np.array(p) / sum(p)))])
    sex = None
    if rng.random() > 0.08:
        female = 0.65 if role == "young music leader" else 0.55
        sex = "female" if rng.random() < female else "male"
    disability = None
    if rng.random() > 0.22:
        disability = bool(rng.random() < 0.07)
    return {"tutor": tid, "role": role, "contract": contract, "genres": genres,
            "practices": practices, "ethnicity": ethnicity, "sex": sex, "disability": disability,
            "engagement": 0.0 if rng.random() < 0.1 else float(rng.beta(4, 2))}


def _tutors_for_service(rng: np.random.Generator, service: str, prefix: str, years: list[str],
                        profile: dict) -> tuple[list[dict], dict[str, list[dict]]]:
    """Tutor rows and, per year, the tutors (with their engagement) for the CPD draw."""
    london = bool(profile.get("london"))
    boost = {"global": 2.5, "hip hop and grime": 2.5, "electronic": 1.8} if london else {}
    if profile.get("synthetic"):
        boost = {g: float(rng.lognormal(0, 0.4)) for g in GENRES}
    size = int(rng.integers(8, 26))
    next_id = 1
    staff: list[dict] = []
    rows: list[dict] = []
    by_year: dict[str, list[dict]] = {}

    def hire(role: str) -> dict:
        nonlocal next_id
        person = _new_tutor(rng, f"{prefix}-T{next_id:02d}", role, london, boost)
        next_id += 1
        return person

    for i, year in enumerate(years):
        if i == 0:
            roles = ["manager", "project lead"]
            if profile.get("young_music_leaders") or rng.random() < 0.15:
                roles.append("young music leader")
            roles += ["other" if rng.random() < 0.04 else "instrumental tutor"
                      for _ in range(size - len(roles))]
            staff = [hire(r) for r in roles]
        else:
            size = int(np.clip(size + rng.integers(-3, 4), 8, 25))
            stay = [p for p in staff if p["role"] == "manager" or rng.random() < 0.85]
            roles_now = [p["role"] for p in stay]
            if "project lead" not in roles_now:
                stay.append(hire("project lead"))
            if profile.get("young_music_leaders") and rng.random() < 0.8:
                stay.append(hire("young music leader"))  # a trainee from the award
            while len(stay) < size:
                stay.append(hire("other" if rng.random() < 0.04 else "instrumental tutor"))
            while len(stay) > size:
                drop = [j for j, p in enumerate(stay) if p["role"] == "instrumental tutor"]
                stay.pop(drop[int(rng.integers(0, len(drop)))] if drop else len(stay) - 1)
            staff = stay
        staff = sorted(staff, key=lambda p: p["tutor"])
        by_year[year] = staff
        for p in staff:
            rows.append({"tutor": p["tutor"], "service": service, "year": year,
                         **{k: p[k] for k in ("role", "contract", "genres", "practices",
                                              "ethnicity", "sex", "disability")}})
    return rows, by_year


def _session_dates(rng: np.random.Generator, start_year: int, profile: dict,
                   first_year: bool) -> list[tuple[date, str]]:
    """(date, topic) of every session a service ran in one programme year."""
    sessions: list[tuple[date, str]] = []
    reflection = profile.get("reflection")
    if reflection == "half-termly" and first_year and start_year < 2019:
        reflection = "termly"  # phase 1 groups met termly
    windows = _HALF_TERMS if reflection == "half-termly" else _TERMS if reflection else ()
    for window in windows:
        sessions.append((_day(rng, *_window(start_year, window)), _REFLECTION))
    lockdown_year = date(start_year, 9, 1) <= ONLINE_FROM < date(start_year + 1, 9, 1)
    if reflection and lockdown_year and profile.get("lockdown_extra"):
        # Hertfordshire: extra fortnightly online groups in the summer term of 2020.
        for k in range(int(profile["lockdown_extra"])):
            day = ONLINE_FROM + timedelta(days=int(27 + 14 * k + rng.integers(0, 3)))
            sessions.append((day - timedelta(days=max(0, day.weekday() - 4)), _REFLECTION))
    year_start, year_end = date(start_year, 9, 20), date(start_year + 1, 7, 15)
    for topic, count in profile["training"].items():
        if first_year and start_year < 2019:
            count = int(rng.random() < 0.5)  # phase 1: less training
        taken: set[date] = set()
        for _ in range(count):
            day = _day(rng, year_start, year_end)
            while day in taken:
                day = _day(rng, year_start, year_end)
            taken.add(day)
            sessions.append((day, topic))
    seen: set[tuple[date, str]] = set()
    unique = []
    for s in sorted(sessions):
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def _cpd_for_service(rng: np.random.Generator, by_year: dict[str, list[dict]],
                     profile: dict) -> list[dict]:
    rows: list[dict] = []
    whole_staff = set(profile.get("whole_staff", ()))
    for k, (year, staff) in enumerate(by_year.items()):
        start_year = int(year[:4])
        for day, topic in _session_dates(rng, start_year, profile, first_year=k == 0):
            online = _online(day) or (day >= _ONLINE_UNTIL and rng.random() < 0.4)
            lengths = (_ONLINE_HOURS if online else _HOURS).get(topic, _HOURS[topic])
            hours = float(rng.choice(lengths))
            for person in staff:
                chance = person["engagement"]
                if topic in whole_staff:
                    chance = 0.9
                elif person["role"] == "manager":
                    chance *= 0.4
                elif topic != _REFLECTION:
                    chance *= 0.7
                if rng.random() < chance:
                    rows.append({"tutor": person["tutor"], "date": day, "topic": topic,
                                 "format": "online" if online else "in person", "hours": hours})
    return rows


def _stages_for_services(rng: np.random.Generator, active: pd.DataFrame,
                         years: list[str]) -> list[dict]:
    final_year = int(years[-1][:4]) + 1
    with_follow_up = np.ones(len(active), dtype=bool)
    if len(active) >= 3:
        latest = np.flatnonzero(active["cohort"].to_numpy() == active["cohort"].max())
        pool = latest if len(latest) < len(active) else np.arange(len(active))
        with_follow_up[int(rng.choice(pool))] = False
    placements: list[dict] = []
    for i, rec in enumerate(active.itertuples(index=False)):
        placed_by = str(rng.choice(_PLACED_BY))
        base_day = _day(rng, date(rec.first_start, 10, 1), date(rec.first_start, 11, 15))
        follow_day = _day(rng, date(final_year, 9, 7), date(final_year, 9, 25)) \
            if rng.random() < 0.3 else _day(rng, date(final_year, 7, 1), date(final_year, 7, 17))
        for area in STAGE_AREAS:
            step = int(rng.choice(4, p=_BASELINE_STAGE[area]))
            follow = min(3, step + int(rng.random() < _MOVE_ON[area]))
            placements.append({"service": rec.service, "area": area, "baseline": step,
                               "follow": follow if with_follow_up[i] else None,
                               "placed_by": placed_by, "base_day": base_day,
                               "follow_day": follow_day})
    # One or two areas move back (never below exclusion).
    candidates = [j for j, p in enumerate(placements)
                  if p["follow"] is not None and p["follow"] == p["baseline"] and p["baseline"] > 0]
    n_back = min(len(candidates), 1 if len(active) <= 4 else int(rng.integers(1, 3)))
    for j in rng.choice(len(candidates), size=n_back, replace=False) if n_back else []:
        placements[candidates[int(j)]]["follow"] -= 1
    rows = []
    for p in placements:
        for wave in WAVES:
            step = p["baseline"] if wave == "baseline" else p["follow"]
            if step is None:
                continue
            comment = None
            if rng.random() < 0.7 or (wave == "follow-up" and step != p["baseline"]):
                comment = _STAGE_COMMENTS[STAGES[step]].format(area=p["area"])
                if wave == "follow-up" and step != p["baseline"]:
                    comment += _MOVE_COMMENTS[int(np.sign(step - p["baseline"]))]
            rows.append({"service": p["service"], "wave": wave, "area": p["area"],
                         "stage": STAGES[step], "placed_by": p["placed_by"],
                         "date": p["base_day"] if wave == "baseline" else p["follow_day"],
                         "comment": comment})
    order = {s: i for i, s in enumerate(active["service"])}
    rows.sort(key=lambda r: (order[r["service"]], WAVES.index(r["wave"]),
                             STAGE_AREAS.index(r["area"])))
    return rows


def _typed(rows: list[dict], table, sort: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=table.names)
    out = {}
    for col in table.columns:
        values = frame[col.name]
        if col.kind == "date":
            out[col.name] = pd.to_datetime(values).astype("datetime64[ns]")
        elif col.kind in ("number", "share"):
            out[col.name] = pd.to_numeric(values).astype("float64")
        elif col.kind == "boolean":
            out[col.name] = pd.array(values.astype(object).where(values.notna(), None),
                                     dtype="boolean")
        else:
            out[col.name] = pd.array(values.astype(object).where(values.notna(), None),
                                     dtype="string")
    typed = pd.DataFrame(out, index=range(len(frame)))
    if sort and len(typed):
        typed = typed.sort_values(sort, kind="stable").reset_index(drop=True)
    return typed


def generate_workforce(services: pd.DataFrame, years: Sequence[str] = ("2018-19", "2019-20"),
                       seed: int = 2020) -> dict[str, pd.DataFrame]:
    """Synthetic ``stages``, ``tutors`` and ``cpd`` tables for the given services.

    Parameters
    ----------
    services : DataFrame
        Columns ``service`` and ``cohort`` (year joined); ``name`` (used to
        recognise the services the learning report describes, e.g. Essex) and
        ``local_authority`` are optional. A service takes part in each
        programme year starting in or after its cohort year, so a service that
        joined in 2019 has tutors in 2019-20 only; a service with no year in
        ``years`` appears in no table.
    years : sequence of str, default ("2018-19", "2019-20")
        Programme years, written like 2019-20, in time order.
    seed : int, default 2020
        Seed of :func:`numpy.random.default_rng`; same services and seed give
        equal tables.

    Returns
    -------
    dict of str to DataFrame
        ``"stages"``, ``"tutors"`` and ``"cpd"``, each with exactly the
        columns of the contract (:data:`changing_tracks.contracts.TABLES`) and
        canonical values, typed as the loader types them (text as ``string``,
        dates ``datetime64[ns]``, hours ``float64``, disability ``boolean``);
        list columns (``genres``, ``practices``) are canonical values joined
        by ``"; "``. Stages are sorted by service (in the order of
        ``services``), wave and area; tutors by service, year and tutor; CPD
        by date, tutor and topic.

    Examples
    --------
    >>> services = pd.DataFrame({"service": ["essex"], "name": ["Essex Music Service"],
    ...                          "local_authority": ["Essex"], "cohort": [2018]})
    >>> tables = generate_workforce(services)
    >>> sorted(tables)
    ['cpd', 'stages', 'tutors']
    """
    frame = _check_services(services)
    canonical = [programme_year(y) for y in years]
    if not canonical or any(c is None or c != y for c, y in zip(canonical, years)):
        raise ValueError("years must be programme years written like '2019-20'; "
                         f"found {list(years)}")
    if sorted(canonical) != list(canonical) or len(set(canonical)) != len(canonical):
        raise ValueError(f"years must be distinct and in time order; found {list(years)}")
    rng = np.random.default_rng(seed)
    starts = [int(y[:4]) for y in canonical]
    frame["years"] = [[y for y, s in zip(canonical, starts) if s >= c] for c in frame["cohort"]]
    active = frame[frame["years"].map(len) > 0].reset_index(drop=True)
    active["first_start"] = active["years"].map(lambda ys: int(ys[0][:4]))
    used: set[str] = set()
    tutor_rows: list[dict] = []
    cpd_rows: list[dict] = []
    for rec in active.itertuples(index=False):
        service_rng = np.random.default_rng([seed, *(ord(ch) for ch in rec.service)])
        profile = _profile(rec.service, rec.name, service_rng)
        rows, by_year = _tutors_for_service(service_rng, rec.service,
                                            _prefix(rec.service, used), rec.years, profile)
        tutor_rows += rows
        cpd_rows += _cpd_for_service(service_rng, by_year, profile)
    stage_rows = _stages_for_services(rng, active, canonical)
    stages = _typed(stage_rows, STAGES_TABLE, [])
    tutors = _typed(tutor_rows, TUTORS, [])
    cpd = _typed(cpd_rows, CPD, ["date", "tutor", "topic"])
    return {"stages": stages, "tutors": tutors, "cpd": cpd}
