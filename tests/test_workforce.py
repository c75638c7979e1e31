"""Workforce and organisation: stages, CPD, diversity, genres, and the sample generator.

Expected values are worked out by hand in the comments; intervals are checked
against statsmodels' Wilson interval (an independent implementation).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

import changing_tracks as ct  # noqa: E402
from changing_tracks import workforce as wf  # noqa: E402
from changing_tracks.contracts import TABLES, programme_year, programme_year_of  # noqa: E402
from changing_tracks.sample_workforce import generate_workforce  # noqa: E402


def wilson(k: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return 100 * low, 100 * high


def row(frame: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        mask &= (frame[key].astype(object) == value).to_numpy()
    assert mask.sum() == 1, f"expected one row for {where}, found {mask.sum()}"
    return frame.loc[mask].iloc[0]


# --------------------------------------------------------------------------
# Stages of inclusion
# --------------------------------------------------------------------------

@pytest.fixture
def stages() -> pd.DataFrame:
    # Service a: pupil voice exclusion -> exclusion (same), CPD segregation -> inclusion
    # (+2, moved on), funding integration -> segregation (-1, moved back).
    # Service b: baseline only (no follow-up).
    records = [
        ("a", "baseline", "pupil voice", "exclusion"),
        ("a", "baseline", "CPD", "segregation"),
        ("a", "baseline", "funding", "integration"),
        ("a", "follow-up", "pupil voice", "exclusion"),
        ("a", "follow-up", "CPD", "inclusion"),
        ("a", "follow-up", "funding", "segregation"),
        ("b", "baseline", "pupil voice", "integration"),
        ("b", "baseline", "CPD", "segregation"),
        ("b", "baseline", "funding", "exclusion"),
    ]
    frame = pd.DataFrame(records, columns=["service", "wave", "area", "stage"])
    frame["placed_by"] = "senior leadership team"
    return frame


def test_stage_journey_moves_and_single_wave(stages):
    j = wf.stage_journey(stages)
    assert list(j.columns) == ["service", "area", "stage_baseline", "stage_follow_up",
                               "step_baseline", "step_follow_up", "steps", "direction", "n"]
    # Contract order of areas within service: pupil voice, CPD, funding.
    assert list(j["area"]) == ["pupil voice", "CPD", "funding"] * 2
    a = j[j["service"] == "a"]
    assert list(a["direction"]) == ["same", "moved on", "moved back"]
    assert [int(v) for v in a["steps"]] == [0, 2, -1]
    assert [int(v) for v in a["step_follow_up"]] == [0, 3, 1]
    b = j[j["service"] == "b"]
    assert list(b["direction"]) == ["baseline only"] * 3
    assert b["steps"].isna().all() and b["stage_follow_up"].isna().all()
    assert list(b["n"]) == [1, 1, 1] and list(a["n"]) == [2, 2, 2]


def test_stage_journey_follow_up_only_and_errors(stages):
    only = pd.DataFrame({"service": ["c"], "wave": ["follow-up"], "area": ["settings"],
                         "stage": ["integration"]})
    j = wf.stage_journey(only)
    assert j.loc[0, "direction"] == "follow-up only" and pd.isna(j.loc[0, "steps"])
    bad = stages.copy()
    bad.loc[0, "stage"] = "partial"
    with pytest.raises(ValueError, match="stage must be one of"):
        wf.stage_journey(bad)
    dup = pd.concat([stages, stages.iloc[[0]]])
    with pytest.raises(ValueError, match="two placements"):
        wf.stage_journey(dup)
    with pytest.raises(ValueError, match="needs columns"):
        wf.stage_journey(stages.drop(columns="stage"))
    empty = wf.stage_journey(stages.iloc[0:0])
    assert empty.empty and "direction" in empty.columns


def test_journey_summary_counts(stages):
    s = wf.journey_summary(wf.stage_journey(stages))
    assert list(s["area"]) == ["pupil voice", "CPD", "funding", "all areas"]
    cpd = row(s, area="CPD")
    assert (cpd["n"], cpd["n_moved_on"], cpd["n_baseline_only"], cpd["steps_total"]) == (1, 1, 1, 2)
    funding = row(s, area="funding")
    assert (funding["n_moved_back"], funding["steps_total"]) == (1, -1)
    total = row(s, area="all areas")
    # Three service-area pairs with both waves: one each of moved on / same / moved back.
    assert (total["n"], total["n_moved_on"], total["n_same"], total["n_moved_back"],
            total["n_baseline_only"], total["steps_total"]) == (3, 1, 1, 1, 3, 1)
    assert total["pct_moved_on"] == pytest.approx(100 / 3)
    assert s.attrs["suppress"]["counts"] == []  # services, not people: nothing to suppress


def test_stage_grid_latest_and_pivot(stages):
    g = wf.stage_grid(stages)
    # a shows its follow-up, b (no follow-up) its baseline.
    assert set(g.loc[g["service"] == "a", "wave"]) == {"follow-up"}
    assert set(g.loc[g["service"] == "b", "wave"]) == {"baseline"}
    wide = wf.pivot_stage_grid(g)
    assert list(wide.columns) == ["pupil voice", "CPD", "funding"]
    assert wide.loc["a", "CPD"] == "inclusion" and wide.loc["b", "funding"] == "exclusion"
    steps = wf.pivot_stage_grid(wf.stage_grid(stages, wave="baseline"), value="step")
    assert int(steps.loc["a", "funding"]) == 2
    follow = wf.stage_grid(stages, wave="follow-up")
    assert set(follow["service"]) == {"a"}
    with pytest.raises(ValueError, match="wave must be one of"):
        wf.stage_grid(stages, wave="middle")


def test_early_stage_areas(stages):
    e = wf.early_stage_areas(stages)
    # Latest: pupil voice a exclusion, b integration -> 1/2; CPD a inclusion, b segregation
    # -> 1/2; funding a segregation, b exclusion -> 2/2 (most services early).
    assert list(e["area"]) == ["funding", "pupil voice", "CPD"]
    funding = row(e, area="funding")
    assert (funding["n"], funding["n_early"], funding["pct_early"], funding["most_early"]) == \
        (2, 2, 100.0, True)
    assert (funding["n_exclusion"], funding["n_segregation"]) == (1, 1)
    assert not row(e, area="CPD")["most_early"]  # exactly half is not "most"
    base = wf.early_stage_areas(stages, wave="baseline")
    assert row(base, area="CPD")["n_early"] == 2 and row(base, area="funding")["n_early"] == 1
    only_exclusion = wf.early_stage_areas(stages, early="exclusion")
    assert row(only_exclusion, area="funding")["n_early"] == 1
    with pytest.raises(ValueError, match="early must be stages"):
        wf.early_stage_areas(stages, early=("beginning",))


def test_plot_stage_journey(stages):
    fig = wf.plot_stage_journey(wf.stage_journey(stages))
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["pupil voice", "CPD", "funding"]
    fig.canvas.draw()
    assert [t.get_text() for t in visible[0].get_yticklabels()] == ["b", "a"]
    # CPD: a moved on (arrow, from segregation = 1), b has a baseline only (hollow, at 1)
    cpd = visible[1]
    arrows = [(a.xy, a.xyann) for a in cpd.texts]
    assert arrows == [((3, 1), (1, 1))]
    hollow = [line for line in cpd.get_lines() if line.get_markerfacecolor() == "white"]
    assert [tuple(line.get_xydata()[0]) for line in hollow] == [(1.0, 0.0)]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["moved on", "moved back", "same", "baseline only"]


def test_plot_stage_journey_of_one_service_has_a_row_per_area(stages):
    journey = wf.stage_journey(stages)
    fig = wf.plot_stage_journey(journey[journey["service"] == "a"])
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["funding", "CPD", "pupil voice"]
    assert "a" in fig.get_suptitle()
    assert sorted((a.xy, a.xyann) for a in ax.texts) == [((1, 0), (2, 0)), ((3, 1), (1, 1))]


def test_plot_stage_journey_title_wraps_within_the_figure(stages):
    journey = wf.stage_journey(stages)
    one = journey[journey["service"] == "a"].assign(
        service="Resonate (Liverpool Music Hub), Music Education Hub for the city")
    fig = wf.plot_stage_journey(one)
    _assert_within_canvas(fig)
    assert "Liverpool" in fig.get_suptitle()


# --------------------------------------------------------------------------
# CPD and reflective practice
# --------------------------------------------------------------------------

@pytest.fixture
def tutors() -> pd.DataFrame:
    # s1 has T1, T2, T3 (T3 takes no CPD); s2 has T4, T5. T1 was also listed in 2018-19.
    return pd.DataFrame({
        "tutor": ["T1", "T2", "T3", "T4", "T5", "T1"],
        "service": ["s1", "s1", "s1", "s2", "s2", "s1"],
        "year": ["2019-20"] * 5 + ["2018-19"],
    })


@pytest.fixture
def cpd() -> pd.DataFrame:
    records = [
        ("T1", "2019-10-10", "critical reflection group", "in person", 2.0),
        ("T1", "2020-02-05", "critical reflection group", "in person", 2.0),
        ("T1", "2020-05-06", "critical reflection group", "online", 1.0),
        ("T1", "2019-11-20", "mental health", "in person", 3.0),
        ("T2", "2019-10-10", "critical reflection group", "in person", 2.0),
        ("T2", "2020-05-06", "critical reflection group", "online", 1.0),
        ("T4", "2019-11-01", "inclusion training", "in person", 6.0),
        ("T5", "2020-06-01", "music technology", "online", 2.0),
        ("T9", "2019-10-10", "critical reflection group", "in person", 2.0),  # not listed
        ("T1", "2018-10-10", "critical reflection group", "in person", 1.5),
    ]
    frame = pd.DataFrame(records, columns=["tutor", "date", "topic", "format", "hours"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def test_cpd_participation(tutors, cpd):
    p = wf.cpd_participation(tutors, cpd, year="2019-20")
    assert list(p["service"]) == ["s1", "s2", "All services"]
    s1 = row(p, service="s1")
    # 3 tutors; T1 and T2 took part (both in reflection); T3 took none.
    assert (s1["n"], s1["n_any_cpd"], s1["n_reflection"], s1["n_no_cpd"]) == (3, 2, 2, 1)
    assert s1["pct_any_cpd"] == pytest.approx(200 / 3)
    low, high = wilson(2, 3)
    assert s1["ci_low_any_cpd"] == pytest.approx(low, abs=1e-9)
    assert s1["ci_high_any_cpd"] == pytest.approx(high, abs=1e-9)
    s2 = row(p, service="s2")
    assert (s2["n"], s2["n_any_cpd"], s2["n_reflection"]) == (2, 2, 0)
    assert "no critical reflection group sessions" in s2["note"]
    assert s2["ci_high_reflection"] == pytest.approx(wilson(0, 2)[1], abs=1e-9)
    pooled = row(p, service="All services")
    assert (pooled["n"], pooled["n_any_cpd"], pooled["n_reflection"]) == (5, 4, 2)
    assert p.attrs["unmatched_cpd"] == 1  # T9 is not listed in 2019-20
    assert p.attrs["suppress"]["derived"]["pct_reflection"] == ["n", "n_reflection"]
    every = wf.cpd_participation(tutors, cpd)
    # 2018-19 has one service only: no pooled row for it.
    assert list(every.loc[every["year"] == "2018-19", "service"]) == ["s1"]
    assert row(every, year="2018-19")["n_reflection"] == 1


def test_cpd_participation_empty_and_bad_arguments(tutors, cpd):
    empty = wf.cpd_participation(tutors.iloc[0:0], cpd)
    assert empty.empty and "pct_any_cpd" in empty.columns
    with pytest.raises(ValueError, match="reflection_topic"):
        wf.cpd_participation(tutors, cpd, reflection_topic="reflection")
    twice = pd.concat([tutors, pd.DataFrame({"tutor": ["T1"], "service": ["s2"],
                                             "year": ["2019-20"]})])
    with pytest.raises(ValueError, match="two services"):
        wf.cpd_participation(twice, cpd)


def test_cpd_summary(tutors, cpd):
    s = wf.cpd_summary(tutors, cpd, year="2019-20")
    refl = row(s, service="s1", topic="critical reflection group")
    # T1 three sessions (2+2+1 h), T2 two (2+1 h): 5 tutor-sessions, 8 hours, 3 dates.
    assert (refl["n"], refl["n_attended"], refl["n_sessions"], refl["n_meetings"]) == (3, 2, 5, 3)
    assert refl["hours"] == pytest.approx(8.0)
    assert refl["sessions_per_tutor"] == pytest.approx(5 / 3)
    assert refl["hours_per_tutor"] == pytest.approx(8 / 3)
    assert refl["hours_per_attendee"] == pytest.approx(4.0)
    total = row(s, service="s1", topic="all topics")
    assert (total["n_sessions"], total["n_meetings"], total["hours"]) == (6, 4, 11.0)
    none = row(s, service="s1", topic="songwriting")
    assert none["n_sessions"] == 0 and none["hours_per_tutor"] == 0
    assert math.isnan(none["hours_per_attendee"])
    training = row(s, service="s2", topic="inclusion training")
    assert training["hours_per_tutor"] == pytest.approx(3.0)
    pooled = row(s, service="All services", topic="all topics")
    # Meetings are counted per service: s1 has 4, s2 has 2.
    assert (pooled["n"], pooled["n_meetings"], pooled["hours"]) == (5, 6, 19.0)
    assert len(s) == 3 * 12  # 11 topics + all topics for s1, s2 and pooled


def test_reflective_regularity(tutors, cpd):
    r = wf.reflective_regularity(tutors, cpd, year="2019-20")
    s1 = row(r, service="s1")
    # T1 in autumn, spring and summer (regular); T2 autumn and summer (some); T3 none.
    assert (s1["n"], s1["n_regular"], s1["n_some"], s1["n_none"]) == (3, 1, 1, 1)
    assert s1["pct_regular"] == pytest.approx(100 / 3)
    pooled = row(r, service="All services")
    assert (pooled["n"], pooled["n_regular"]) == (5, 1)
    assert pooled["ci_low"] == pytest.approx(wilson(1, 5)[0], abs=1e-9)
    assert pooled["ci_high"] == pytest.approx(wilson(1, 5)[1], abs=1e-9)
    twice = wf.reflective_regularity(tutors, cpd, year="2019-20", min_sessions=2)
    assert row(twice, service="s1")["n_regular"] == 0
    with pytest.raises(ValueError, match="min_sessions"):
        wf.reflective_regularity(tutors, cpd, min_sessions=0)
    with pytest.raises(ValueError, match="active"):
        wf.reflective_regularity(tutors, cpd, active="sometimes")


def test_reflective_regularity_offered_terms(tutors, cpd):
    # Without the spring group, T1 misses a term of the year but not a term on offer.
    no_spring = cpd[cpd["date"] != pd.Timestamp("2020-02-05")]
    by_year = wf.reflective_regularity(tutors, no_spring, year="2019-20")
    assert row(by_year, service="s1")["n_regular"] == 0
    offered = wf.reflective_regularity(tutors, no_spring, year="2019-20", active="offered")
    s1 = row(offered, service="s1")
    assert (s1["n"], s1["n_regular"], s1["n_some"], s1["n_none"]) == (3, 2, 0, 1)
    s2 = row(offered, service="s2")  # s2 ran no reflection groups
    assert (s2["n"], s2["n_not_offered"]) == (0, 2)
    assert math.isnan(s2["pct_regular"]) and "offered" in s2["note"]
    assert row(offered, service="All services")["n"] == 3


def test_cpd_format_by_term(tutors, cpd):
    f = wf.cpd_format(cpd, tutors)
    autumn = row(f, service="s1", year="2019-20", term="autumn", format="in person")
    # T1 reflection + mental health, T2 reflection: 3 tutor-sessions, 2 sessions, 7 hours.
    assert (autumn["n"], autumn["n_sessions"], autumn["n_meetings"], autumn["hours"]) == \
        (2, 3, 2, 7.0)
    assert autumn["pct_sessions"] == 100
    assert row(f, service="s1", year="2019-20", term="autumn", format="online")["n_sessions"] == 0
    summer = row(f, service="All services", year="2019-20", term="summer", format="online")
    assert (summer["n"], summer["n_sessions"], summer["n_meetings"], summer["hours"]) == \
        (3, 3, 2, 4.0)
    assert summer["pct_hours"] == 100
    assert f.attrs["unmatched_cpd"] == 1
    assert row(f, service="s1", year="2019-20", term="autumn", format="online")["n_total"] == 2
    year = wf.cpd_format(cpd, tutors, by="year")
    s1 = row(year, service="s1", year="2019-20", format="online")
    # s1 2019-20: 6 tutor-sessions, 2 online (2 of 11 hours).
    assert (s1["term"], s1["n_sessions"], s1["n_sessions_total"]) == ("all terms", 2, 6)
    assert s1["pct_hours"] == pytest.approx(100 * 2 / 11)


def test_cpd_format_without_tutors_and_bad_format(cpd):
    f = wf.cpd_format(cpd)
    assert set(f["service"]) == {"All services"}
    autumn = row(f, year="2019-20", term="autumn", format="in person")
    assert autumn["n_sessions"] == 5  # every record counts, T9 included
    bad = cpd.assign(format=["in person"] * 9 + ["hybrid"])
    with pytest.raises(ValueError, match="format must be one of"):
        wf.cpd_format(bad)


def test_plot_cpd_heatmap(tutors, cpd):
    fig = wf.plot_cpd_heatmap(wf.cpd_summary(tutors, cpd))
    assert isinstance(fig, Figure)
    assert "2019-20" in fig.axes[0].get_title()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["s1", "s2", "All services"]
    with pytest.raises(ValueError, match="year must be one of"):
        wf.plot_cpd_heatmap(wf.cpd_summary(tutors, cpd), year="2030-31")


# --------------------------------------------------------------------------
# Workforce diversity
# --------------------------------------------------------------------------

@pytest.fixture
def staff() -> pd.DataFrame:
    # s1: 12 tutors -- ethnicity 9 white, 1 asian, 2 unknown; sex 6 female, 4 male, 2
    # unknown; disability 1 yes, 5 no, 6 unknown. s2: 3 tutors, nothing recorded.
    s1 = pd.DataFrame({
        "tutor": [f"A{i:02d}" for i in range(12)], "service": "s1", "year": "2019-20",
        "ethnicity": ["white"] * 9 + ["asian", None, None],
        "sex": ["female"] * 6 + ["male"] * 4 + [None, None],
        "disability": pd.array([True] + [False] * 5 + [None] * 6, dtype="boolean"),
    })
    s2 = pd.DataFrame({"tutor": ["B1", "B2", "B3"], "service": "s2", "year": "2019-20",
                       "ethnicity": [None] * 3, "sex": [None] * 3,
                       "disability": pd.array([None] * 3, dtype="boolean")})
    return pd.concat([s1, s2], ignore_index=True)


@pytest.fixture
def young_people() -> pd.DataFrame:
    # s1: 20 participants, 14 white, 4 asian, 2 black; 10 female, 10 male. s2: 4, all white.
    s1 = pd.DataFrame({"participant": [f"p{i}" for i in range(20)], "service": "s1",
                       "year": "2019-20",
                       "ethnicity": ["white"] * 14 + ["asian"] * 4 + ["black"] * 2,
                       "sex": ["female", "male"] * 10})
    s2 = pd.DataFrame({"participant": ["q1", "q2", "q3", "q4"], "service": "s2",
                       "year": "2019-20", "ethnicity": ["white"] * 4, "sex": ["female"] * 4})
    return pd.concat([s1, s2], ignore_index=True)


@pytest.fixture
def population() -> tuple[pd.DataFrame, pd.DataFrame]:
    benchmarks = pd.DataFrame({
        "local_authority": ["LA1", "LA1", "LA1", "LA1", "LA2"],
        "phase": ["all", "all", "all", "primary", "secondary"],
        "characteristic": ["ethnicity_white", "ethnicity_asian", "sex_female",
                           "ethnicity_white", "ethnicity_white"],
        "share": [0.75, 0.15, 0.49, 0.70, 0.60],
    })
    services = pd.DataFrame({"service": ["s1", "s2"], "local_authority": ["LA1", "LA2"]})
    return benchmarks, services


def test_workforce_diversity_shares_and_ratios(staff, young_people, population):
    benchmarks, services = population
    d = wf.workforce_diversity(staff, young_people, benchmarks, services)
    assert list(d.columns)[:6] == ["service", "year", "characteristic", "n", "n_with", "n_unknown"]
    white = row(d, service="s1", characteristic="ethnicity_white")
    assert (white["n"], white["n_with"], white["n_unknown"]) == (10, 9, 2)
    assert white["pct"] == pytest.approx(90.0)
    assert (white["ci_low"], white["ci_high"]) == pytest.approx(wilson(9, 10), abs=1e-9)
    assert (white["n_participants"], white["n_participants_with"]) == (20, 14)
    assert white["pct_participants"] == pytest.approx(70.0)
    assert white["ratio_participants"] == pytest.approx(90 / 70)
    # "all" is preferred to "primary" for LA1.
    assert (white["pct_population"], white["phase"]) == (pytest.approx(75.0), "all")
    assert white["ratio_population"] == pytest.approx(1.2)
    asian = row(d, service="s1", characteristic="ethnicity_asian")
    assert asian["ratio_participants"] == pytest.approx(0.5)
    assert asian["ratio_population"] == pytest.approx(10 / 15)
    female = row(d, service="s1", characteristic="sex_female")
    assert female["ratio_population"] == pytest.approx(60 / 49)
    black = row(d, service="s1", characteristic="ethnicity_black")
    assert math.isnan(black["pct_population"]) and "no population benchmark" in black["note"]
    assert black["ratio_participants"] == 0  # no black tutors, 10% of participants


def test_workforce_diversity_small_groups_and_unknowns(staff, young_people, population):
    benchmarks, services = population
    d = wf.workforce_diversity(staff, young_people, benchmarks, services)
    dis = row(d, service="s1", characteristic="disability")
    # 6 tutors recorded (< 10): counts kept for suppression, no ratio, and no comparator.
    assert (dis["n"], dis["n_with"], dis["n_unknown"]) == (6, 1, 6)
    assert math.isnan(dis["ratio_population"]) and math.isnan(dis["ratio_participants"])
    assert "fewer than 10 tutors" in dis["note"] and "disability" in dis["note"]
    assert pd.isna(dis["n_participants"])
    unknown = row(d, service="s2", characteristic="ethnicity_white")  # all unknown
    assert (unknown["n"], unknown["n_with"], unknown["n_unknown"]) == (0, 0, 3)
    assert math.isnan(unknown["pct"]) and math.isnan(unknown["ratio_population"])
    assert (unknown["pct_population"], unknown["phase"]) == (pytest.approx(60.0), "secondary")
    strict = wf.workforce_diversity(staff, young_people, benchmarks, services, min_n=11)
    white = row(strict, service="s1", characteristic="ethnicity_white")
    assert math.isnan(white["ratio_population"]) and "fewer than 11" in white["note"]
    assert white["pct"] == pytest.approx(90.0)  # the share stays for the disclosure step
    assert d.attrs["suppress"]["derived"]["pct"] == ["n", "n_with"]
    with pytest.raises(ValueError, match="min_n"):
        wf.workforce_diversity(staff, min_n=0)
    with pytest.raises(ValueError, match="characteristics"):
        wf.workforce_diversity(staff, characteristics=["fsm"])


def test_workforce_diversity_pooled_and_no_comparators(staff, young_people, population):
    benchmarks, services = population
    d = wf.workforce_diversity(staff, young_people, benchmarks, services)
    pooled = row(d, service="All services", characteristic="ethnicity_white")
    # 10 tutors recorded (all in s1), so the weighted population share is s1's 75%.
    assert (pooled["n"], pooled["n_unknown"]) == (10, 5)
    assert pooled["pct_population"] == pytest.approx(75.0)
    assert (pooled["n_participants"], pooled["n_participants_with"]) == (24, 18)
    assert "weighted" in pooled["note"]
    alone = wf.workforce_diversity(staff)
    assert alone["pct_participants"].isna().all() and alone["pct_population"].isna().all()
    assert alone["note"].str.contains("no participant data").all()
    fig = wf.plot_workforce_profile(d, service="s1")
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="service must be one of"):
        wf.plot_workforce_profile(d, service="nowhere")


# --------------------------------------------------------------------------
# Genres and practices
# --------------------------------------------------------------------------

@pytest.fixture
def teaching() -> pd.DataFrame:
    return pd.DataFrame({
        "tutor": ["T1", "T2", "T3", "T4", "T5"],
        "service": ["s1", "s1", "s1", "s1", "s2"],
        "year": "2019-20",
        "genres": ["classical; rock and pop", "classical", None, "hip hop and grime",
                   "classical"],
        "practices": ["instrumental teaching", "singing; songwriting", "mentoring", None,
                      "instrumental teaching"],
    })


def test_genre_breadth(teaching):
    b = wf.genre_breadth(teaching, kinds="genres")
    s1 = row(b, service="s1")
    # Mentions: classical 2, rock and pop 1, hip hop 1 -> p = .5, .25, .25.
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert (s1["n"], s1["n_unknown"], s1["n_mentions"], s1["n_distinct"]) == (3, 1, 4, 3)
    assert s1["shannon"] == pytest.approx(h)
    assert s1["evenness"] == pytest.approx(h / math.log(10))  # 10 genres in the vocabulary
    assert s1["top"] == "classical"
    observed = wf.genre_breadth(teaching, kinds="genres", evenness="observed")
    assert row(observed, service="s1")["evenness"] == pytest.approx(h / math.log(3))
    s2 = row(observed, service="s2")  # one genre only
    assert s2["shannon"] == 0 and math.isnan(s2["evenness"]) and "one value" in s2["note"]
    assert row(b, service="s2")["evenness"] == 0
    practices = row(wf.genre_breadth(teaching, kinds="practices"), service="s1")
    assert (practices["n"], practices["n_distinct"], practices["n_categories"]) == (3, 4, 11)
    with pytest.raises(ValueError, match="kinds"):
        wf.genre_breadth(teaching, kinds="styles")


def test_genre_shares(teaching):
    s = wf.genre_shares(teaching, kinds="genres")
    classical = row(s, service="s1", value="classical")
    assert (classical["n"], classical["n_with"]) == (3, 2)
    assert classical["pct"] == pytest.approx(200 / 3)
    assert (classical["ci_low"], classical["ci_high"]) == pytest.approx(wilson(2, 3), abs=1e-9)
    assert row(s, service="s1", value="jazz")["n_with"] == 0  # zeros shown
    assert row(s, service="All services", value="classical")["n_with"] == 3
    assert len(s) == 3 * 10


# --------------------------------------------------------------------------
# Sample generator
# --------------------------------------------------------------------------

SERVICES = pd.DataFrame({
    "service": ["cambridgeshire", "cornwall", "essex", "hertfordshire", "southampton",
                "waltham-forest", "service-009"],
    "name": ["Cambridgeshire Music", "Cornwall Music Service Trust", "Essex Music Service",
             "Hertfordshire Music Service", "Southampton Music Services",
             "Waltham Forest Music Service", "Service 9"],
    "local_authority": ["Cambridgeshire", "Cornwall", "Essex", "Hertfordshire", "Southampton",
                        "Waltham Forest", "Somewhere"],
    "cohort": [2018, 2019, 2018, 2018, 2019, 2018, 2019],
})


@pytest.fixture(scope="module")
def generated() -> dict[str, pd.DataFrame]:
    return generate_workforce(SERVICES)


def test_generator_is_deterministic(generated):
    again = generate_workforce(SERVICES, seed=2020)
    for name in ("stages", "tutors", "cpd"):
        pd.testing.assert_frame_equal(generated[name], again[name])
    other = generate_workforce(SERVICES, seed=7)
    assert not other["tutors"].equals(generated["tutors"])


def _check_against_contract(frame: pd.DataFrame, name: str) -> None:
    table = TABLES[name]
    assert list(frame.columns) == table.names
    for col in table.columns:
        values = frame[col.name]
        if not col.nullable:
            assert values.notna().all(), f"{name}.{col.name} has blanks"
        present = values.dropna()
        if col.kind == "category":
            assert set(present) <= set(col.allowed), f"{name}.{col.name}"
        elif col.kind == "list":
            parts = {p.strip() for v in present for p in v.split(";")}
            assert parts <= set(col.allowed), f"{name}.{col.name}: {parts - set(col.allowed)}"
            assert all(v == "; ".join(p.strip() for p in v.split(";")) for v in present)
        elif col.kind in ("number", "integer", "share"):
            assert present.between(col.minimum, col.maximum).all(), f"{name}.{col.name}"
        elif col.kind == "year":
            assert all(programme_year(v) == v for v in present)
        elif col.kind == "date":
            assert str(values.dtype) == "datetime64[ns]"
        elif col.kind == "boolean":
            assert str(values.dtype) == "boolean"
    assert not frame.duplicated(list(table.key)).any(), f"{name}: duplicate key"


def test_generator_matches_contracts(generated):
    for name in ("stages", "tutors", "cpd"):
        _check_against_contract(generated[name], name)


def test_generator_tutors_are_realistic(generated):
    tutors = generated["tutors"]
    sizes = tutors.groupby(["service", "year"]).size()
    assert sizes.between(8, 25).all()
    # Services that joined in 2019 have no 2018-19 workforce.
    assert set(tutors.loc[tutors["year"] == "2018-19", "service"]) == {
        "cambridgeshire", "essex", "hertfordshire", "waltham-forest"}
    assert tutors["tutor"].str.fullmatch(r"[A-Z0-9]{3,4}-T\d{2}").all()
    assert tutors.groupby("tutor")["service"].nunique().max() == 1
    # Some continue into 2019-20 with the same id; some leave.
    herts = tutors[tutors["service"] == "hertfordshire"]
    first = set(herts.loc[herts["year"] == "2018-19", "tutor"])
    second = set(herts.loc[herts["year"] == "2019-20", "tutor"])
    assert first & second and first - second | second - first
    assert (herts["role"] == "young music leader").any()
    roles = tutors["role"].value_counts()
    assert roles.idxmax() == "instrumental tutor"
    per_service = tutors.groupby(["service", "year"])["role"]
    assert per_service.apply(lambda r: (r == "manager").sum() == 1).all()
    known = tutors["ethnicity"].dropna()
    assert (known == "white").mean() > 0.7 and tutors["ethnicity"].isna().any()
    genres = tutors["genres"].dropna().str.split("; ").explode().value_counts()
    assert set(genres.index[:2]) == {"classical", "rock and pop"}


def test_generator_cpd_follows_the_report(generated):
    tutors, cpd = generated["tutors"], generated["cpd"]
    years = programme_year_of(cpd["date"])
    placed = pd.DataFrame({"tutor": cpd["tutor"], "year": years}).merge(
        tutors[["tutor", "year", "service"]], on=["tutor", "year"], how="left")
    assert placed["service"].notna().all()  # every record's tutor is listed that year
    topics = cpd.assign(service=placed["service"].to_numpy(), year=years.to_numpy())
    recent = topics[topics["year"] == "2019-20"]
    have = {s: set(g) for s, g in recent.groupby("service")["topic"]}
    assert {"critical reflection group", "mental health", "music technology",
            "evaluation methods"} <= have["essex"]
    assert {"music therapy approaches", "project management", "songwriting"} <= have["cornwall"]
    assert {"student-led learning", "evaluation methods"} <= have["southampton"]
    assert "inclusion training" in have["cambridgeshire"]
    assert "critical reflection group" in have["hertfordshire"]
    assert {"critical reflection group", "music technology"} <= have["waltham-forest"]
    for service in ("cornwall", "southampton", "cambridgeshire"):
        assert "critical reflection group" not in have[service]
    # Half-termly groups in 2019-20: Essex meets in each half term.
    essex = recent[(recent["service"] == "essex")
                   & (recent["topic"] == "critical reflection group")]
    assert essex["date"].nunique() >= 5
    online_from = pd.Timestamp("2020-04-01")
    assert (cpd.loc[cpd["date"] >= online_from, "format"] == "online").all()
    assert (cpd.loc[cpd["date"] < online_from, "format"] == "in person").all()
    gap = cpd["date"].between(pd.Timestamp("2020-03-16"), pd.Timestamp("2020-03-31"))
    assert not gap.any()
    assert cpd["hours"].between(1, 6).all()
    assert (cpd["date"].dt.day_of_week < 5).all()
    assert cpd["tutor"].isin(tutors["tutor"]).all()
    # Somebody took no CPD at all.
    assert not tutors["tutor"].isin(cpd["tutor"]).all()


def test_generator_stages(generated):
    stages = generated["stages"]
    counts = stages.groupby(["service", "wave"]).size()
    assert (counts == 7).all()
    services = set(stages["service"])
    assert services == set(SERVICES["service"])
    followed = set(stages.loc[stages["wave"] == "follow-up", "service"])
    assert len(services - followed) == 1
    assert SERVICES.set_index("service").loc[list(services - followed)[0], "cohort"] == 2019
    journey = wf.stage_journey(stages)
    assert 1 <= (journey["direction"] == "moved back").sum() <= 2
    assert (journey["direction"] == "moved on").sum() >= 3
    base = stages[stages["wave"] == "baseline"]
    assert base["stage"].isin(["segregation", "integration"]).mean() > 0.6
    assert (stages.loc[stages["wave"] == "follow-up", "date"] >= pd.Timestamp("2020-07-01")).all()


def test_generator_synthetic_and_edge_cases():
    synthetic = pd.DataFrame({"service": [f"service-{i:03d}" for i in (8, 9, 10)],
                              "name": ["x", "y", "z"], "local_authority": ["a", "b", "c"],
                              "cohort": [2018, 2019, 2018]})
    tables = generate_workforce(synthetic)
    tutors = tables["tutors"]
    prefixes = tutors["tutor"].str.split("-").str[0]
    assert prefixes.groupby(tutors["service"]).nunique().max() == 1
    assert prefixes.groupby(tutors["service"]).first().is_unique
    _check_against_contract(tables["cpd"], "cpd")
    one = generate_workforce(synthetic.iloc[[1]], years=("2019-20",))
    assert set(one["stages"]["wave"]) == {"baseline", "follow-up"}  # a lone service keeps both
    with pytest.raises(ValueError, match="years must be"):
        generate_workforce(synthetic, years=("2019",))
    with pytest.raises(ValueError, match="cohort"):
        generate_workforce(synthetic.drop(columns="cohort"))


def test_generated_tables_round_trip_through_the_loader(tmp_path, generated):
    services = SERVICES.assign(aliases="", region="", focus="")[
        ["service", "name", "aliases", "local_authority", "region", "cohort", "focus"]]
    services.to_csv(tmp_path / "services.csv", index=False)
    for name, frame in generated.items():
        out = frame.copy()
        for col in out.columns:
            if str(out[col].dtype) == "datetime64[ns]":
                out[col] = out[col].dt.strftime("%Y-%m-%d")
        out.to_csv(tmp_path / TABLES[name].file, index=False)
    data = ct.load_data(tmp_path)
    for name, frame in generated.items():
        loaded = data.table(name)[TABLES[name].names].reset_index(drop=True)
        assert len(loaded) == len(frame)
        pd.testing.assert_frame_equal(loaded, frame, check_dtype=False)
    # And the analyses run on what the loader returns.
    assert not wf.cpd_participation(data.tutors, data.cpd).empty
    assert not wf.stage_journey(data.stages).empty


def test_plots_accept_suppressed_cells(tutors, cpd, staff):
    summary = wf.cpd_summary(tutors, cpd).astype({"hours_per_tutor": object})
    summary.loc[0, "hours_per_tutor"] = "c"  # as a disclosure step might mark it
    assert isinstance(wf.plot_cpd_heatmap(summary), Figure)
    diversity = wf.workforce_diversity(staff)
    diversity.loc[diversity["n"] < 10, ["n", "pct", "ci_low", "ci_high"]] = np.nan
    assert isinstance(wf.plot_workforce_profile(diversity, service="s1"), Figure)


def test_tables_carry_what_the_disclosure_step_needs(tutors, cpd):
    disclosure = pytest.importorskip("changing_tracks.disclosure")
    p = wf.cpd_participation(tutors, cpd, year="2019-20")
    assert p.attrs["suppress"]["counts"] == ["n", "n_any_cpd", "n_reflection", "n_no_cpd"]
    shown = disclosure.suppress(p, **p.attrs["suppress"])
    # Every group has fewer than 10 tutors: counts and the shares resting on them are hidden.
    assert (shown["n"] == "c").all() and (shown["pct_reflection"] == "c").all()
    assert list(shown["service"]) == ["s1", "s2", "All services"]


# --------------------------------------------------------------------------
# Disclosure-control specs (attrs["suppress"])
# --------------------------------------------------------------------------

from .conftest import assert_spec as _assert_spec  # noqa: E402
from .conftest import assert_within_canvas as _assert_within_canvas  # noqa: E402


def assert_spec(table: pd.DataFrame, settings: set = frozenset()) -> dict:
    """The shared spec check; numeric columns are declared in tables counting people."""
    return _assert_spec(table, settings, people_only=True)


def _shown(table):
    from changing_tracks import disclosure

    return disclosure.suppress(table, **table.attrs["suppress"])


def test_disclosure_specs_name_existing_columns(stages, tutors, cpd, staff, young_people,
                                                 population):
    benchmarks, services = population
    journey = wf.stage_journey(stages)
    for table in (journey, wf.journey_summary(journey), wf.stage_grid(stages),
                  wf.pivot_stage_grid(wf.stage_grid(stages)), wf.early_stage_areas(stages)):
        assert table.attrs["suppress"] == {"counts": [], "derived": {}}  # services
        assert "counts" not in table.attrs and "derived" not in table.attrs
    assert_spec(wf.cpd_participation(tutors, cpd))
    assert_spec(wf.cpd_summary(tutors, cpd))
    assert_spec(wf.reflective_regularity(tutors, cpd), {"min_sessions"})
    assert_spec(wf.cpd_format(cpd, tutors))
    assert_spec(wf.cpd_format(cpd))
    spec = assert_spec(wf.workforce_diversity(staff, young_people, benchmarks, services),
                       {"min_n"})
    assert spec["keep"] == ["pct_population"]  # a published benchmark
    assert spec["complements"] == {"n_with": "n", "n_participants_with": "n_participants"}
    assert_spec(wf.genre_breadth(staff.assign(genres="rock;pop", practices="")),
                {"n_categories"})
    shares = wf.genre_shares(staff.assign(genres="rock;pop", practices=""))
    assert_spec(shares)
    assert_spec(wf.cpd_participation(tutors.iloc[0:0], cpd))  # empty
    assert shares[shares["service"] == "s1"].attrs["suppress"] == shares.attrs["suppress"]


def test_n11_tutors_three_in_reflection():
    tutors = pd.DataFrame({"tutor": [f"T{i}" for i in range(11)], "service": "s1",
                           "year": "2019-20"})
    topics = ["critical reflection group"] * 3 + ["inclusion training"] * 8
    cpd = pd.DataFrame({"tutor": tutors["tutor"], "date": pd.Timestamp("2019-11-01"),
                        "topic": topics, "format": "in person", "hours": 2.0})
    p = wf.cpd_participation(tutors, cpd)
    assert p[["n", "n_any_cpd", "n_reflection", "n_no_cpd"]].iloc[0].tolist() == [11, 11, 3, 0]
    row = _shown(p).iloc[0]
    assert (row["n"], row["n_any_cpd"], row["pct_any_cpd"]) == (11, 11, 100.0)
    assert row["ci_low_any_cpd"] == pytest.approx(wilson(11, 11)[0])
    for col in ("n_reflection", "pct_reflection", "ci_low_reflection", "ci_high_reflection"):
        assert row[col] == "c", col
    # Diversity: 11 tutors, 3 female and 8 male: both shares hidden, n shown.
    staff = tutors.assign(sex=["female"] * 3 + ["male"] * 8)
    d = _shown(wf.workforce_diversity(staff, characteristics=["sex_female", "sex_male"],
                                      pooled=False))
    assert d["n"].tolist() == [11, 11]
    assert d["n_with"].tolist() == ["c", "c"] and d["pct"].tolist() == ["c", "c"]


def test_ethnic_groups_add_up_to_n():
    # 35 tutors: 20 white, 12 black, 3 asian. Hiding the 3 alone would leave it as
    # 35 - 20 - 12: another group of the family is hidden too.
    staff = pd.DataFrame({"tutor": [f"T{i}" for i in range(35)], "service": "s1",
                          "year": "2019-20",
                          "ethnicity": ["white"] * 20 + ["black"] * 12 + ["asian"] * 3})
    d = wf.workforce_diversity(staff, characteristics=["ethnicity_white", "ethnicity_black",
                                                       "ethnicity_asian"], pooled=False)
    assert d["family"].tolist() == ["ethnicity"] * 3
    out = _shown(d).set_index("characteristic")
    assert out.loc["ethnicity_asian", "n_with"] == "c"
    assert (out.loc[["ethnicity_white", "ethnicity_black"], "n_with"] == "c").sum() == 1
    assert (out["n"] == 35).all()


def test_publishing_the_sample_workforce_tables(sample_dir):
    from changing_tracks.reports import open_report

    report = open_report(sample_dir, "2019-20")
    tutors, cpd, stages = report.table("tutors"), report.table("cpd"), report.table("stages")
    journey = wf.stage_journey(stages)
    tables = [journey, wf.journey_summary(journey), wf.stage_grid(stages),
              wf.early_stage_areas(stages), wf.cpd_participation(tutors, cpd),
              wf.cpd_summary(tutors, cpd), wf.reflective_regularity(tutors, cpd),
              wf.cpd_format(cpd, tutors), wf.genre_breadth(tutors), wf.genre_shares(tutors),
              wf.workforce_diversity(tutors, report.table("participants"),
                                     report.table("benchmarks"), report.table("services"))]
    for table in tables:
        published = report.publish(table, people="tutors")
        assert len(published.table) == len(table)
        assert published.table.attrs["disclosure_warnings"] == []
    part = tables[4]
    shown = report.publish(part[part["service"] == "essex"], people="tutors").table
    assert shown["n"].tolist() == ["10"]  # formatted for display
