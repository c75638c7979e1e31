"""Tests for changing_tracks.participation: hand-computed cases and independent references."""

from __future__ import annotations

import itertools
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from changing_tracks import contracts  # noqa: E402
from changing_tracks import participation as P  # noqa: E402

YEAR = "2019-20"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def make_participants(n: int, service: str = "s1", year: str = YEAR, prefix: str = "p",
                      **columns) -> pd.DataFrame:
    """n participants of one service and year; keyword columns are lists of length n or
    scalars."""
    start = int(year[:4])
    frame = pd.DataFrame({
        "participant": [f"{prefix}{i}" for i in range(n)],
        "service": service,
        "year": year,
        "activity": "ensemble",
        "setting": "primary school",
        "year_group": 5,
        "start": pd.Timestamp(f"{start}-09-01"),
        "end": pd.NaT,
        "status": "active",
        "progression": None,
    }, index=range(n))
    for name, value in columns.items():
        frame[name] = value
    return frame


def flags(n: int, k: int, unknown: int = 0) -> list:
    """k True, then unknown missing values, then False, n in all."""
    return [True] * k + [None] * unknown + [False] * (n - k - unknown)


def benchmarks_for(la: str, shares: dict[str, float], phase: str = "primary") -> pd.DataFrame:
    return pd.DataFrame({"local_authority": la, "phase": phase,
                         "characteristic": list(shares), "share": list(shares.values())})


def full_benchmarks(la: str, phase: str = "primary", **override) -> pd.DataFrame:
    shares = {"fsm": 0.2, "sen_support": 0.12, "ehc_plan": 0.04, "looked_after": 0.01,
              "young_carer": 0.02, "eal": 0.15, "sex_female": 0.49, "sex_male": 0.51,
              "ethnicity_asian": 0.1, "ethnicity_black": 0.05, "ethnicity_mixed": 0.05,
              "ethnicity_white": 0.75, "ethnicity_other": 0.05}
    shares.update(override)
    return benchmarks_for(la, shares, phase)


SERVICES = pd.DataFrame({"service": ["s1", "s2", "s3"],
                         "local_authority": ["Herts", "Essex", "Nowhere"]})


def row(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for k, v in where.items():
        mask &= (table[k] == v).to_numpy(dtype=bool, na_value=False)
    assert mask.sum() == 1, f"expected one row for {where}, found {mask.sum()}"
    return table.loc[mask].iloc[0]


# --------------------------------------------------------------------------
# Representation
# --------------------------------------------------------------------------


@pytest.fixture
def rep_data():
    # s1: 25 participants, 5 FSM (ref C 5/25), nobody looked after (0 of 25),
    # young_carer all unknown; s3: no benchmark rows at all.
    s1 = make_participants(
        25, "s1", fsm=flags(25, 5), looked_after=flags(25, 0), young_carer=None,
        eal=flags(25, 3, unknown=5), sen=["sen support"] * 4 + ["ehc plan"] + ["none"] * 20,
        sex=["female"] * 12 + ["male"] * 13,
        ethnicity=["white"] * 20 + ["asian"] * 3 + ["black"] * 2)
    # s2: 50 participants, 7 EAL (ref C 7/50).
    s2 = make_participants(
        50, "s2", prefix="q", eal=flags(50, 7), fsm=flags(50, 10), looked_after=flags(50, 1),
        young_carer=flags(50, 0), sen="none", sex="female", ethnicity="white")
    s3 = make_participants(4, "s3", prefix="r", fsm=flags(4, 1), looked_after=flags(4, 0),
                           young_carer=flags(4, 0), eal=flags(4, 0), sen="none",
                           sex="male", ethnicity="black")
    participants = pd.concat([s1, s2, s3], ignore_index=True)
    bench = pd.concat([full_benchmarks("Herts"), full_benchmarks("Essex", fsm=0.25)],
                      ignore_index=True)
    return participants, bench


def test_representation_wilson_reference_values(rep_data):
    participants, bench = rep_data
    rep = P.representation(participants, bench, SERVICES, pooled=False)
    fsm = row(rep, service="s1", characteristic="fsm")
    assert (fsm["n"], fsm["n_known"], fsm["n_unknown"], fsm["n_with"]) == (25, 25, 0, 5)
    assert fsm["share"] == pytest.approx(0.2)
    assert fsm["ci_low"] == pytest.approx(0.0886, abs=1e-4)
    assert fsm["ci_high"] == pytest.approx(0.3913, abs=1e-4)
    eal = row(rep, service="s2", characteristic="eal")
    assert eal["ci_low"] == pytest.approx(0.0695, abs=1e-4)
    assert eal["ci_high"] == pytest.approx(0.2619, abs=1e-4)
    # A characteristic with zero participants: 0/25, Wilson upper limit from the formula.
    la = row(rep, service="s1", characteristic="looked_after")
    assert la["n_with"] == 0 and la["share"] == 0 and la["ci_low"] == 0
    z = stats.norm.ppf(0.975)
    assert la["ci_high"] == pytest.approx(z**2 / (25 + z**2), abs=1e-12)
    assert la["ratio"] == 0 and la["ratio_ci_low"] == 0


def test_representation_zero_of_twenty_and_clopper_pearson():
    p = make_participants(20, looked_after=flags(20, 0))
    bench = full_benchmarks("Herts")
    rep = P.representation(p, bench, SERVICES, characteristics=["looked_after"], pooled=False)
    r = rep.iloc[0]
    assert (r["ci_low"], round(r["ci_high"], 4)) == (0.0, 0.1611)
    p25 = make_participants(25, fsm=flags(25, 5))
    cp = P.representation(p25, bench, SERVICES, characteristics=["fsm"], pooled=False,
                          ci_method="clopper-pearson").iloc[0]
    assert cp["ci_low"] == pytest.approx(0.0683, abs=1e-4)
    assert cp["ci_high"] == pytest.approx(0.4070, abs=1e-4)


def test_representation_ratio_and_benchmark(rep_data):
    participants, bench = rep_data
    rep = P.representation(participants, bench, SERVICES, pooled=False)
    fsm = row(rep, service="s2", characteristic="fsm")
    assert fsm["local_authority"] == "Essex"
    assert fsm["phase"] == "primary" and fsm["benchmark_phase"] == "primary"
    assert fsm["benchmark"] == pytest.approx(0.25)
    assert fsm["ratio"] == pytest.approx((10 / 50) / 0.25)
    lo, hi = stats.binomtest(10, 50).proportion_ci(0.95, method="wilson")
    assert fsm["ratio_ci_low"] == pytest.approx(lo / 0.25, rel=1e-9)
    assert fsm["ratio_ci_high"] == pytest.approx(hi / 0.25, rel=1e-9)
    assert fsm["expected"] == pytest.approx(12.5)


def test_representation_source_names_its_year_once(rep_data):
    """The source year is added to the source's title unless the title already gives it."""
    participants, bench = rep_data
    bench = bench.assign(source=np.where(bench["local_authority"] == "Essex",
                                         "DfE pupils in England 2023/24", "DfE pupils"),
                         source_year="2023/24")
    rep = P.representation(participants, bench, SERVICES, pooled=False)
    assert row(rep, service="s2", characteristic="fsm")["benchmark_source"] == \
        "DfE pupils in England 2023/24"
    assert row(rep, service="s1", characteristic="fsm")["benchmark_source"] == \
        "DfE pupils 2023/24"


def test_representation_unknown_values_are_counted(rep_data):
    participants, bench = rep_data
    rep = P.representation(participants, bench, SERVICES, pooled=False)
    eal = row(rep, service="s1", characteristic="eal")
    # 3 yes, 5 unknown, 17 no: share among the 20 known, unknowns reported.
    assert (eal["n"], eal["n_known"], eal["n_unknown"], eal["n_with"]) == (25, 20, 5, 3)
    assert eal["share"] == pytest.approx(3 / 20)
    assert eal["share_unknown"] == pytest.approx(5 / 25)
    # All values unknown: no share, no test, a note; nothing raised.
    yc = row(rep, service="s1", characteristic="young_carer")
    assert (yc["n_known"], yc["n_unknown"], yc["n_with"]) == (0, 25, 0)
    assert np.isnan(yc["share"]) and np.isnan(yc["ci_low"]) and np.isnan(yc["ratio"])
    assert yc["test"] == "" and np.isnan(yc["p_value"])
    assert "no known values" in yc["note"]


def test_representation_service_without_benchmark(rep_data):
    participants, bench = rep_data
    rep = P.representation(participants, bench, SERVICES)
    s3 = rep.loc[rep["service"] == "s3"]
    assert len(s3) == len(contracts.CHARACTERISTICS)
    assert s3["benchmark"].isna().all() and s3["ratio"].isna().all()
    assert s3["note"].str.contains("no benchmark for Nowhere").all()
    assert (s3["n"] == 4).all()
    # A service missing from the services table: also a note, not an error.
    rep2 = P.representation(participants, bench, SERVICES.iloc[:2])
    assert row(rep2, service="s3", characteristic="fsm")["note"].startswith(
        "service 's3' has no local authority")
    # The pooled benchmark cannot be formed while a contributing service lacks one.
    pooled = row(rep, service=P.POOLED, characteristic="fsm")
    assert pooled["n"] == 79 and pooled["n_with"] == 16
    assert np.isnan(pooled["benchmark"]) and "no benchmark for s3" in pooled["note"]


def test_representation_pooled_weighted_benchmark(rep_data):
    participants, bench = rep_data
    two = participants.loc[participants["service"] != "s3"]
    rep = P.representation(two, bench, SERVICES)
    pooled = row(rep, service=P.POOLED, characteristic="fsm")
    # 25 known in Herts (0.20) and 50 in Essex (0.25).
    assert pooled["benchmark"] == pytest.approx((25 * 0.2 + 50 * 0.25) / 75)
    assert pooled["benchmark_phase"] == "weighted"
    assert pooled["share"] == pytest.approx(15 / 75)
    # Or a named comparator such as England.
    eng = pd.concat([bench, full_benchmarks("England", phase="all", fsm=0.246)])
    rep = P.representation(two, eng, SERVICES, pooled_benchmark="England")
    pooled = row(rep, service=P.POOLED, characteristic="fsm")
    assert pooled["benchmark"] == pytest.approx(0.246)
    assert pooled["benchmark_phase"] == "all"  # no primary England row: all-phase fallback


def test_representation_phase_rule_and_fallback():
    # 3 secondary-school participants and 2 primary by year group: modal phase secondary.
    p = make_participants(5, fsm=flags(5, 1), setting=["secondary school"] * 3 + ["community"] * 2,
                          year_group=[8, 9, 10, 3, 4])
    bench = pd.concat([benchmarks_for("Herts", {"fsm": 0.3}, "secondary"),
                       benchmarks_for("Herts", {"fsm": 0.2}, "primary"),
                       benchmarks_for("Herts", {"fsm": 0.1, "eal": 0.15}, "all")])
    rep = P.representation(p, bench, SERVICES, pooled=False, characteristics=["fsm", "eal"])
    fsm = row(rep, characteristic="fsm")
    assert fsm["phase"] == "secondary" and fsm["benchmark"] == pytest.approx(0.3)
    assert fsm["phase_share"] == pytest.approx(0.6)
    eal = row(rep, characteristic="eal")  # no secondary EAL row: the all-phase share
    assert eal["benchmark_phase"] == "all" and eal["benchmark"] == pytest.approx(0.15)
    assert "all-phase" in eal["note"]
    # A tie between phases falls back to "all"; fixed rules and mappings override.
    tie = make_participants(4, fsm=flags(4, 1), year_group=[2, 3, 8, 9], setting="community")
    assert row(P.representation(tie, bench, SERVICES, pooled=False,
                                characteristics=["fsm"]), characteristic="fsm")["phase"] == "all"
    fixed = P.representation(p, bench, SERVICES, pooled=False, characteristics=["fsm"],
                             phase_rule="primary")
    assert fixed["benchmark"].iloc[0] == pytest.approx(0.2)
    mapped = P.representation(p, bench, SERVICES, pooled=False, characteristics=["fsm"],
                              phase_rule={"s1": "all"})
    assert mapped["benchmark"].iloc[0] == pytest.approx(0.1)


def test_goodness_of_fit_binary_tests():
    # 40 participants, 12 FSM vs 0.2: expected 8 and 32, both >= 5 -> chi-square.
    p = make_participants(40, fsm=flags(40, 12), looked_after=flags(40, 2))
    bench = full_benchmarks("Herts", looked_after=0.01)
    rep = P.representation(p, bench, SERVICES, pooled=False)
    fsm = row(rep, characteristic="fsm")
    ref = stats.chisquare([12, 28], [8, 32])
    assert fsm["test"] == "chi-square" and fsm["df"] == 1
    assert fsm["statistic"] == pytest.approx(ref.statistic)
    assert fsm["p_value"] == pytest.approx(ref.pvalue)
    # Looked after: expected 0.4 < 5 -> exact binomial.
    la = row(rep, characteristic="looked_after")
    assert la["test"] == "exact binomial"
    assert la["p_value"] == pytest.approx(stats.binomtest(2, 40, 0.01).pvalue)


def test_goodness_of_fit_ethnicity_chi_square_and_rescaling():
    eth = ["white"] * 70 + ["asian"] * 15 + ["black"] * 6 + ["mixed"] * 5 + ["other"] * 4
    p = make_participants(100, ethnicity=eth)
    # Benchmarks sum to 0.98 (2% unclassified): rescaled to the five groups.
    raw = {"asian": 0.098, "black": 0.049, "mixed": 0.049, "white": 0.735, "other": 0.049}
    bench = benchmarks_for("Herts", {f"ethnicity_{k}": v for k, v in raw.items()})
    rep = P.representation(p, bench, SERVICES, pooled=False,
                           characteristics=[f"ethnicity_{g}" for g in raw])
    probs = np.array([raw[g] for g in contracts.ETHNICITY_GROUPS]) / 0.98
    obs = [dict(zip(*np.unique(eth, return_counts=True)))[g] for g in contracts.ETHNICITY_GROUPS]
    ref = stats.chisquare(obs, 100 * probs)
    assert (rep["test"] == "chi-square").all() and (rep["df"] == 4).all()
    assert rep["p_value"].iloc[0] == pytest.approx(ref.pvalue)
    assert rep["statistic"].iloc[0] == pytest.approx(ref.statistic)
    white = row(rep, characteristic="ethnicity_white")
    assert white["benchmark"] == pytest.approx(0.75)
    assert "rescaled" in white["note"]
    assert rep["benchmark"].sum() == pytest.approx(1.0)


def _exact_multinomial_p(counts, probs):
    """P(chi-square statistic >= observed) under the multinomial, by enumeration."""
    n, k = sum(counts), len(counts)
    expected = n * np.asarray(probs)
    observed = (((np.asarray(counts) - expected) ** 2) / expected).sum()
    total = 0.0
    for cut in itertools.combinations(range(n + k - 1), k - 1):
        parts = np.diff([-1, *cut, n + k - 1]) - 1
        stat = (((parts - expected) ** 2) / expected).sum()
        if stat >= observed - 1e-9:
            total += stats.multinomial.pmf(parts, n, probs)
    return total


def test_goodness_of_fit_monte_carlo_is_seeded_and_close_to_exact():
    eth = ["white"] * 3 + ["black"] * 3 + ["asian"] * 2
    p = make_participants(8, ethnicity=eth)
    bench = full_benchmarks("Herts")
    chars = [f"ethnicity_{g}" for g in contracts.ETHNICITY_GROUPS]
    a = P.representation(p, bench, SERVICES, pooled=False, characteristics=chars,
                         seed=7, n_sim=20_000)
    b = P.representation(p, bench, SERVICES, pooled=False, characteristics=chars,
                         seed=7, n_sim=20_000)
    c = P.representation(p, bench, SERVICES, pooled=False, characteristics=chars,
                         seed=8, n_sim=20_000)
    assert (a["test"] == "Monte Carlo chi-square").all()
    assert a["p_value"].iloc[0] == b["p_value"].iloc[0]  # same seed, same answer
    assert a["p_value"].iloc[0] != c["p_value"].iloc[0]  # the seed is really used
    probs = [0.1, 0.05, 0.05, 0.75, 0.05]
    counts = [2, 3, 0, 3, 0]  # asian, black, mixed, white, other
    exact = _exact_multinomial_p(counts, probs)
    assert a["p_value"].iloc[0] == pytest.approx(exact, abs=0.01)
    assert a.attrs["settings"]["seed"] == 7 and a.attrs["settings"]["n_sim"] == 20_000


def test_representation_validation():
    p = make_participants(3, fsm=flags(3, 1))
    bench = full_benchmarks("Herts")
    with pytest.raises(ValueError, match="phase_rule"):
        P.representation(p, bench, SERVICES, phase_rule="tertiary")
    with pytest.raises(ValueError, match="characteristics"):
        P.representation(p, bench, SERVICES, characteristics=["height"])
    with pytest.raises(ValueError, match="not in participants"):
        P.representation(p, bench, SERVICES, year="2030-31")
    with pytest.raises(ValueError, match="benchmarks needs"):
        P.representation(p, bench.drop(columns="share"), SERVICES)
    with pytest.raises(ValueError, match="confidence"):
        P.representation(p, bench, SERVICES, confidence=95)
    bad = p.assign(ethnicity="martian")
    with pytest.raises(ValueError, match="ethnicity"):
        P.representation(bad, bench, SERVICES)


def test_representation_empty_and_missing_column():
    p = make_participants(3, fsm=flags(3, 1))  # no sen/sex/... columns at all
    rep = P.representation(p, full_benchmarks("Herts"), SERVICES, pooled=False)
    sen = row(rep, characteristic="sen_support")
    assert sen["n_unknown"] == 3 and "column 'sen' not in participants" in sen["note"]
    empty = P.representation(p.iloc[:0], full_benchmarks("Herts"), SERVICES)
    assert empty.empty and "ratio" in empty.columns and "n_known" in empty.columns


def test_representation_years_reported_separately():
    p = pd.concat([make_participants(10, fsm=flags(10, 2)),
                   make_participants(5, year="2020-21", prefix="n", fsm=flags(5, 5))])
    rep = P.representation(p, full_benchmarks("Herts"), SERVICES, characteristics=["fsm"])
    assert list(rep["year"]) == ["2019-20", "2019-20", "2020-21", "2020-21"]
    assert list(rep["n_with"]) == [2, 2, 5, 5]
    one = P.representation(p, full_benchmarks("Herts"), SERVICES, characteristics=["fsm"],
                           year="2020/21")
    assert set(one["year"]) == {"2020-21"}


# --------------------------------------------------------------------------
# Reach
# --------------------------------------------------------------------------


@pytest.fixture
def reach_data():
    p = pd.DataFrame({
        "participant": ["a", "b", "c", "a", "d", "e", "x"],
        "service": ["s1", "s1", "s1", "s1", "s1", "s2", "s2"],
        "year": ["2019-20", "2019-20", "2019-20", "2020-21", "2020-21", "2020-21", "2020-21"],
        "activity": ["ensemble", "singing", "ensemble", "ensemble", "singing", "ensemble",
                     "ensemble"],
        "setting": "primary school",
        "start": pd.to_datetime(["2019-09-01"] * 3 + ["2020-09-01"] * 4),
        "end": pd.NaT,
    })
    a = pd.DataFrame({
        "participant": ["a", "b", "c", "a", "c", "a", "d", "e", "x"],
        "session_date": pd.to_datetime(["2019-10-01", "2019-10-01", "2019-10-01", "2019-10-08",
                                        "2019-10-08", "2020-10-01", "2020-10-02",
                                        "2020-10-01", "2020-10-01"]),
        "attended": [True, True, False, True, True, True, None, False, True],
    })
    return p, a


def test_reach_new_continuing_and_sessions(reach_data):
    p, a = reach_data
    r = P.reach(p, a)
    s1a = row(r, service="s1", year="2019-20")
    # First year of data: new vs continuing cannot be told.
    assert (s1a["n"], s1a["n_new"], s1a["n_continuing"], s1a["n_history_unknown"]) == (3, 0, 0, 3)
    assert (s1a["sessions_delivered"], s1a["attendances"]) == (2, 4)
    s1b = row(r, service="s1", year="2020-21")
    assert (s1b["n"], s1b["n_new"], s1b["n_continuing"], s1b["n_history_unknown"]) == (2, 1, 1, 0)
    assert (s1b["sessions_delivered"], s1b["attendances"]) == (2, 1)
    s2 = row(r, service="s2", year="2020-21")
    assert (s2["n"], s2["n_history_unknown"], s2["sessions_delivered"]) == (2, 2, 1)
    pooled = row(r, service=P.POOLED, year="2020-21")
    assert (pooled["n"], pooled["sessions_delivered"], pooled["attendances"]) == (4, 2, 2)
    new = P.reach(p, a, first_year="new")
    assert row(new, service="s2", year="2020-21")["n_new"] == 2


def test_reach_by_service_counts_people_once(reach_data):
    p, a = reach_data
    r = P.reach(p, a, by="service")
    s1 = row(r, service="s1")
    assert (s1["n"], s1["n_enrolments"], s1["sessions_delivered"]) == (4, 5, 4)
    by_activity = P.reach(p, by=("service", "year", "activity"), pooled=False)
    assert row(by_activity, service="s1", year="2019-20", activity="ensemble")["n"] == 2
    assert by_activity["sessions_delivered"].isna().all()  # no registers given
    # Activities follow the contract's order, services alphabetical then pooled.
    assert list(by_activity["activity"].iloc[:2]) == ["ensemble", "singing"]


def test_reach_validation_and_empty(reach_data):
    p, _ = reach_data
    with pytest.raises(ValueError, match="by must be"):
        P.reach(p, by=("service", "colour"))
    with pytest.raises(ValueError, match="first_year"):
        P.reach(p, first_year="old")
    with pytest.raises(ValueError, match="participants needs"):
        P.reach(p.drop(columns="year"))
    empty = P.reach(p.iloc[:0])
    assert empty.empty and list(empty.columns[:3]) == ["service", "year", "n"]


# --------------------------------------------------------------------------
# Registers, attendance
# --------------------------------------------------------------------------


@pytest.fixture
def register():
    p = make_participants(3, end=[pd.NaT, pd.Timestamp("2019-11-30"), pd.NaT],
                          status=["completed", "withdrew", "active"])
    p["source_file"] = "participants.csv"
    p["source_row"] = [2, 3, 4]
    dates = pd.to_datetime(["2019-10-01", "2019-10-08", "2019-10-15", "2019-10-22"])
    a = pd.DataFrame({
        "participant": ["p0"] * 4 + ["p1"] * 4 + ["p2"] * 4,
        "session_date": list(dates) * 3,
        "attended": [True, True, True, False, True, False, None, None, True, True, True, True],
    })
    return p, a


def test_attendance_rates_by_hand(register):
    p, a = register
    rates = P.attendance_rates(p, a)
    assert list(rates.index) == list(p.index)
    assert "participant" not in rates.columns
    assert list(rates["sessions_offered"]) == [4, 4, 4]
    assert list(rates["sessions_recorded"]) == [4, 2, 4]
    assert list(rates["sessions_attended"]) == [3, 1, 4]
    np.testing.assert_allclose(rates["rate"], [0.75, 0.5, 1.0])
    absent = P.attendance_rates(p, a, unrecorded="absent")
    np.testing.assert_allclose(absent["rate"], [0.75, 0.25, 1.0])
    assert P.register_problems(p, a).empty


def test_session_after_end_date_is_a_problem_not_a_wrong_rate(register):
    p, a = register
    late = pd.concat([a, pd.DataFrame({"participant": ["p1"],
                                       "session_date": [pd.Timestamp("2019-12-03")],
                                       "attended": [False]})], ignore_index=True)
    late["source_file"] = "register.xlsx"
    late["source_row"] = np.arange(2, len(late) + 2)
    problems = P.register_problems(p, late)
    assert list(problems.columns) == ["file", "row", "column", "value", "expected", "message",
                                      "severity"]
    assert len(problems) == 1
    prob = problems.iloc[0]
    assert (prob["file"], prob["row"], prob["column"]) == ("register.xlsx", 14, "session_date")
    assert prob["value"] == "2019-12-03" and prob["severity"] == "error"
    assert "after participant p1's end date 2019-11-30" in prob["message"]
    with pytest.raises(ValueError, match="end date 2019-11-30"):
        P.attendance_rates(p, late)
    with pytest.raises(ValueError, match="register problem"):
        P.equity_gaps(p.assign(fsm=True, sen="none", looked_after=False, young_carer=False),
                      late)
    unchecked = P.attendance_rates(p, late, check=False)
    assert unchecked["sessions_offered"].iloc[1] == 5


def test_register_problems_other_kinds(register):
    p, a = register
    extra = pd.DataFrame({
        "participant": ["ghost", "p0", "p2", "p0"],
        "session_date": pd.to_datetime(["2019-10-01", "2019-08-20", "2020-10-01", "2019-10-01"]),
        "attended": [True, True, True, False],
    })
    problems = P.register_problems(p, pd.concat([a, extra], ignore_index=True))
    assert problems["file"].isna().all() and problems["row"].isna().all()
    msgs = " | ".join(problems["message"])
    assert "participant ghost is not in the participants table" in msgs
    assert "no participants row for programme year 2018-19" in msgs  # August = previous year
    assert "no participants row for programme year 2020-21" in msgs
    assert (problems["message"].str.contains("more than one register row")).sum() == 2
    before = p.assign(start=pd.Timestamp("2019-10-05"))
    early = P.register_problems(before, a)
    assert (early["message"].str.contains("before participant")).sum() == 3


def test_register_warning_for_participant_without_sessions(register):
    p, a = register
    p4 = pd.concat([p, make_participants(1, prefix="z")], ignore_index=True)
    problems = P.register_problems(p4, a)
    assert list(problems["severity"]) == ["warning"]
    rates = P.attendance_rates(p4, a)  # warnings do not stop the calculation
    assert np.isnan(rates["rate"].iloc[3]) and rates["sessions_offered"].iloc[3] == 0


def test_linking_with_categorical_and_arrow_ids(register):
    p, a = register
    expected = P.attendance_rates(p, a)["rate"].to_numpy()
    cat = a.assign(participant=a["participant"].astype("category"))
    np.testing.assert_allclose(P.attendance_rates(p, cat)["rate"], expected)
    arrow = a.assign(participant=a["participant"].astype("string[pyarrow]"))
    parrow = p.assign(participant=p["participant"].astype("string[pyarrow]"))
    np.testing.assert_allclose(P.attendance_rates(parrow, arrow)["rate"], expected)


def test_attendance_summary_by_hand(register):
    p, a = register
    rates = P.attendance_rates(p, a)
    s = P.attendance_summary(rates, pooled=False)
    r = s.iloc[0]
    values = np.array([0.75, 0.5, 1.0])
    assert (r["n"], r["n_no_sessions"], r["n_at_least"]) == (3, 0, 2)
    assert r["mean"] == pytest.approx(values.mean())
    assert r["sd"] == pytest.approx(values.std(ddof=1))
    assert r["median"] == pytest.approx(0.75)
    assert (r["q1"], r["q3"]) == (pytest.approx(np.quantile(values, 0.25)),
                                  pytest.approx(np.quantile(values, 0.75)))
    lo, hi = stats.binomtest(2, 3).proportion_ci(method="wilson")
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert "participant" not in s.columns and not s.astype(str).isin(["p0", "p1", "p2"]).any().any()
    strict = P.attendance_summary(rates, threshold=0.8, pooled=False)
    assert strict["n_at_least"].iloc[0] == 1
    with pytest.raises(ValueError, match="threshold"):
        P.attendance_summary(rates, threshold=75)
    assert s.attrs["suppress"]["derived"]["share_at_least"] == ["n", "n_at_least"]


# --------------------------------------------------------------------------
# Retention and progression
# --------------------------------------------------------------------------


def test_retention_excludes_active_and_matches_reference():
    status = ["completed"] * 5 + ["withdrew"] * 20 + ["active"] * 4
    p = make_participants(29, status=status)
    r = P.retention(p, pooled=False).iloc[0]
    assert (r["n"], r["n_completed"], r["n_withdrew"], r["n_active"], r["n_ended"]) == (
        29, 5, 20, 4, 25)
    assert r["share_completed"] == pytest.approx(0.2)
    assert (round(r["ci_low"], 4), round(r["ci_high"], 4)) == (0.0886, 0.3913)
    with pytest.raises(ValueError, match="status"):
        P.retention(p.assign(status="finished-ish"))


def test_progression_among_completers():
    routes = (["lessons"] * 3 + ["ensemble"] * 2 + ["music centre"] + ["other"]
              + ["none"] * 43 + [None] * 3 + [None, "none"])
    p = make_participants(55, status=["completed"] * 53 + ["withdrew"] * 2, progression=routes)
    r = P.progression(p, pooled=False).iloc[0]
    # 53 completers: 50 with known progression, 7 progressed (ref C 7/50), 3 unknown.
    assert (r["n"], r["n_known"], r["n_unknown"], r["n_progressed"]) == (53, 50, 3, 7)
    assert (r["n_lessons"], r["n_ensemble"], r["n_music_centre"], r["n_other"], r["n_none"]) == (
        3, 2, 1, 1, 43)
    assert (round(r["ci_low"], 4), round(r["ci_high"], 4)) == (0.0695, 0.2619)
    both = P.progression(p, among=("completed", "withdrew"), pooled=False).iloc[0]
    assert both["n"] == 55 and both["n_unknown"] == 4 and both["n_known"] == 51


# --------------------------------------------------------------------------
# Equity gaps
# --------------------------------------------------------------------------


def test_newcombe_and_welch_against_references():
    d, lo, hi = P.newcombe_ci(56, 70, 48, 80)  # Newcombe (1998), example (a), method 10
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.0524, 0.3339)
    assert float(d) == pytest.approx(0.2)
    x = np.array([0.2, 0.5, 0.9, 1.0, 0.75])
    y = np.array([0.6, 0.8, 0.95, 1.0, 0.9, 0.85, 0.7])
    ref = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    d, lo, hi, df = P.welch_ci(x.mean(), x.std(ddof=1), 5, y.mean(), y.std(ddof=1), 7)
    assert (float(lo), float(hi)) == (pytest.approx(ref.low), pytest.approx(ref.high))
    d, lo, hi, df = P.welch_ci(0.5, 0.1, 1, 0.4, 0.1, 5)
    assert np.isnan(d) and np.isnan(lo)


@pytest.fixture
def equity_data():
    n = 12
    # FSM: the first 5; SEN: 2 with SEN support, 1 EHC plan, 1 unknown.
    p = make_participants(
        n, fsm=flags(n, 5), sen=["sen support", "ehc plan", "none", "sen support", None]
        + ["none"] * 7, looked_after=False, young_carer=flags(n, 0, unknown=n),
        status=["completed", "withdrew", "withdrew", "completed", "completed"]
        + ["completed"] * 5 + ["withdrew", "active"],
        progression=["lessons", None, None, "none", "none"]
        + ["ensemble", "lessons", "none", "none", None, None, None])
    sessions = pd.to_datetime(["2019-10-01", "2019-10-08", "2019-10-15", "2019-10-22"])
    attended = {0: 4, 1: 1, 2: 2, 3: 3, 4: 0, 5: 4, 6: 4, 7: 3, 8: 3, 9: 2, 10: 4, 11: 4}
    a = pd.DataFrame([
        {"participant": f"p{i}", "session_date": d, "attended": j < k}
        for i, k in attended.items() for j, d in enumerate(sessions)])
    rates = np.array([attended[i] / 4 for i in range(n)])
    return p, a, rates


def test_equity_gaps_by_hand(equity_data):
    p, a, rates = equity_data
    gaps = P.equity_gaps(p, a, pooled=False)
    fsm = gaps.loc[gaps["group"] == "fsm"].set_index("measure")
    # Attendance: FSM = first 5 vs the other 7, Welch interval (scipy).
    att = fsm.loc["attendance"]
    ref = stats.ttest_ind(rates[:5], rates[5:], equal_var=False).confidence_interval(0.95)
    assert (att["n_group"], att["n_peers"], att["n_unknown"]) == (5, 7, 0)
    assert att["difference"] == pytest.approx(rates[:5].mean() - rates[5:].mean())
    assert (att["ci_low"], att["ci_high"]) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert att["method"] == "Welch t" and pd.isna(att["n_group_outcome"])
    # Retention: FSM 3 completed of 5 ended; peers 5 of 6 ended (one active excluded).
    ret = fsm.loc["retention"]
    assert (ret["n_group"], ret["n_group_outcome"], ret["n_peers"], ret["n_peers_outcome"]) == (
        5, 3, 6, 5)
    from statsmodels.stats.proportion import confint_proportions_2indep
    lo, hi = confint_proportions_2indep(3, 5, 5, 6, method="newcomb", compare="diff")
    assert (ret["ci_low"], ret["ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert ret["difference"] == pytest.approx(3 / 5 - 5 / 6)
    wlo, whi = stats.binomtest(3, 5).proportion_ci(method="wilson")
    assert (ret["group_ci_low"], ret["group_ci_high"]) == (pytest.approx(wlo), pytest.approx(whi))
    # Progression among completers with known progression: FSM 1 of 3; peers 2 of 4.
    prog = fsm.loc["progression"]
    assert (prog["n_group"], prog["n_group_outcome"], prog["n_peers"], prog["n_peers_outcome"]) == (
        3, 1, 4, 2)
    # SEN = SEN support or EHC plan (3 people), unknown excluded and counted.
    sen = gaps.loc[(gaps["group"] == "sen") & (gaps["measure"] == "attendance")].iloc[0]
    assert (sen["n_group"], sen["n_peers"], sen["n_unknown"]) == (3, 8, 1)
    assert sen["estimate_group"] == pytest.approx(rates[[0, 1, 3]].mean())
    # Young carer all unknown: explained, not an error.
    yc = gaps.loc[(gaps["group"] == "young_carer") & (gaps["measure"] == "retention")].iloc[0]
    assert yc["n"] == 0 and yc["n_unknown"] == 11 and np.isnan(yc["difference"])
    assert yc["note"] == "young_carer not recorded for anyone: no comparison"


def test_equity_gaps_pooled_and_without_registers(equity_data):
    p, a, _ = equity_data
    both = pd.concat([p, make_participants(4, "s2", prefix="w", fsm=flags(4, 2), sen="none",
                                           looked_after=False, young_carer=False,
                                           status="completed", progression="lessons")],
                     ignore_index=True)
    gaps = P.equity_gaps(both, groups=("fsm",))
    assert set(gaps["measure"]) == {"retention", "progression"}
    s1 = row(gaps, service="s1", measure="retention")
    pooled = row(gaps, service=P.POOLED, measure="retention")
    assert pooled["n_group"] == s1["n_group"] + 2 and pooled["n_peers"] == s1["n_peers"] + 2
    with pytest.raises(ValueError, match="participants needs"):
        P.equity_gaps(p, groups=("wears_hat",))
    assert set(gaps.attrs["suppress_by_measure"]) == {"retention", "progression"}


# --------------------------------------------------------------------------
# Publishing: no ids, counts for the disclosure module
# --------------------------------------------------------------------------


def test_published_tables_have_counts_and_no_ids(equity_data, rep_data):
    p, a, _ = equity_data
    participants, bench = rep_data
    tables = [
        P.reach(p, a), P.retention(p), P.progression(p),
        P.attendance_summary(P.attendance_rates(p, a)), P.equity_gaps(p, a),
        P.representation(participants, bench, SERVICES),
    ]
    ids = set(p["participant"]) | set(participants["participant"])
    for t in tables:
        assert "n" in t.columns and pd.api.types.is_integer_dtype(t["n"])
        assert not any(c in t.columns for c in ("participant", "source_file", "source_row"))
        values = set(t.select_dtypes(exclude="number").astype(str).to_numpy().ravel())
        assert not values & ids
        recipes = t.attrs["suppress"]
        recipes = recipes.values() if "derived" not in recipes else [recipes]
        for args in recipes:
            for stat, counts in args["derived"].items():
                assert stat in t.columns and set(counts) <= set(t.columns)


def test_disclosure_recipes_work_with_suppress(equity_data, rep_data):
    # The recipes must be accepted by suppress and hide what rests on small counts. (The
    # fixtures have groups where everyone shares one ethnicity, which suppress rightly warns
    # about: that warning is its business, not this module's.)
    disclosure = pytest.importorskip("changing_tracks.disclosure")
    warnings.simplefilter("ignore", UserWarning)
    p, a, _ = equity_data
    participants, bench = rep_data
    rep = P.representation(participants, bench, SERVICES)
    out = disclosure.suppress(rep, **rep.attrs["suppress"])
    hidden = row(out, service="s1", characteristic="fsm")  # 5 FSM of 25: hidden with its share
    assert hidden["n_with"] == "c" and hidden["share"] == "c" and hidden["ratio"] == "c"
    assert row(out, service="s2", characteristic="fsm")["n_with"] == 10
    for table in (P.reach(p, a), P.retention(p), P.progression(p),
                  P.attendance_summary(P.attendance_rates(p, a))):
        shown = disclosure.suppress(table, **table.attrs["suppress"])
        assert shown.shape == table.shape
    gaps = P.equity_gaps(p, a)
    for measure, args in gaps.attrs["suppress_by_measure"].items():
        part = gaps.loc[gaps["measure"] == measure]
        shown = disclosure.suppress(part, **args)
        estimated = part["difference"].notna().to_numpy()
        assert estimated.any()
        assert (shown.loc[estimated, "difference"] == "c").all()  # 12 people: all hidden


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


def test_figures_return_figures(equity_data, rep_data):
    p, a, _ = equity_data
    participants, bench = rep_data
    rep = P.representation(participants, bench, SERVICES)
    fig = P.plot_representation(rep)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(np.allclose(line.get_xdata(), 1) for line in ax.get_lines())
    ticks = ax.get_xticks()
    assert 1.0 in ticks and set(ticks) <= {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10,
                                             20, 50, 100}
    fig.canvas.draw()
    labels = {t.get_text() for a in fig.axes for t in a.get_xticklabels()}
    assert {"0.5", "1", "2"} <= labels
    assert not ax.xaxis.get_minorticklocs().size  # no unlabelled minor ticks
    # one service's figure, as in its report: its x label wraps within the figure
    one = P.plot_representation(rep[rep["service"] == "s1"])
    assert len(one.axes) == 1
    assert_within_canvas(one)
    fig = P.plot_attendance(P.attendance_summary(P.attendance_rates(p, a)))
    assert isinstance(fig, Figure)
    fig = P.plot_equity_gaps(P.equity_gaps(p, a), measures=("attendance", "retention",
                                                            "progression"))
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    with pytest.raises(ValueError, match="service"):
        P.plot_equity_gaps(P.equity_gaps(p, a), service="nowhere")


@pytest.mark.parametrize("lo, hi, expected", [
    (0.25, 4, [0.5, 1, 2]),
    (0.5, 2, [0.5, 1, 2]),
    (0.1, 10, [0.1, 0.2, 0.5, 1, 2, 5, 10]),
    (0.05, 20, [0.1, 0.5, 1, 2, 10]),  # nine ticks would crowd: powers of ten, 0.5, 2
    (0.8, 1.25, [1]),
])
def test_ratio_ticks_label_half_and_double(lo, hi, expected):
    assert P._ratio_ticks(lo, hi) == pytest.approx(expected)


def test_figures_accept_suppressed_display_tables(equity_data):
    disclosure = pytest.importorskip("changing_tracks.disclosure")
    p, a, _ = equity_data
    summary = P.attendance_summary(P.attendance_rates(p, a))
    shown = disclosure.suppress(summary, {"threshold": 20}, **summary.attrs["suppress"])
    assert (shown["mean"] == "c").all()  # 12 participants, threshold 20: everything hidden
    fig = P.plot_attendance(shown)
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 0


# --------------------------------------------------------------------------
# Disclosure-control specs (attrs["suppress"]) as Report.publish applies them
# --------------------------------------------------------------------------

from .conftest import assert_spec, assert_within_canvas  # noqa: E402


def _shown(table, spec=None):
    from changing_tracks.disclosure import suppress

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fixtures with one-category groups
        return suppress(table, **(table.attrs["suppress"] if spec is None else spec))


def test_disclosure_specs_name_existing_columns(equity_data, rep_data, register):
    p, a, _ = equity_data
    participants, bench = rep_data
    assert_spec(P.reach(p, a), settings={"sessions_delivered"})  # the service's provision
    assert "groups" in P.reach(p, a, by=("service", "year", "activity")).attrs["suppress"]
    spec = assert_spec(P.representation(participants, bench, SERVICES), settings={"df"})
    assert ["service", "year", "family"] in spec["groups"] and spec["keep"] == ["benchmark", "df"]
    assert_spec(P.attendance_summary(P.attendance_rates(*register)))
    assert_spec(P.retention(p))
    spec = assert_spec(P.progression(p))
    assert spec["sums"]["n_progressed"] == ["n_lessons", "n_ensemble", "n_music_centre",
                                            "n_other"]
    gaps = P.equity_gaps(p, a)
    assert_spec(gaps)
    empty = {"n_group_outcome", "n_peers_outcome"}  # missing on attendance rows
    for measure, spec in gaps.attrs["suppress_by_measure"].items():
        assert_spec(gaps[gaps["measure"] == measure], spec=spec,
                    settings=empty if measure == "attendance" else set())
    ret = P.retention(p)
    assert ret[ret["service"] == "s1"].attrs["suppress"] == ret.attrs["suppress"]
    for table in (P.reach(p, a), P.retention(p), gaps):  # no old-style recipes left
        assert "disclosure_args" not in table.attrs


def test_n11_with_three_regular_attenders_shows_the_mean_rate():
    # 11 participants offered 4 sessions each: 3 attend all four (rate 1), 8 attend two.
    p = make_participants(11)
    dates = pd.to_datetime(["2019-10-01", "2019-10-08", "2019-10-15", "2019-10-22"])
    a = pd.DataFrame({"participant": np.repeat(p["participant"].to_numpy(), 4),
                      "session_date": list(dates) * 11,
                      "attended": [True] * 12 + [True, True, False, False] * 8})
    s = P.attendance_summary(P.attendance_rates(p, a), pooled=False)
    assert (s["n"].iloc[0], s["n_at_least"].iloc[0]) == (11, 3)
    row_ = _shown(s).iloc[0]
    assert row_["n"] == 11
    assert row_["mean"] == pytest.approx((3 * 1 + 8 * 0.5) / 11) and row_["median"] == 0.5
    assert row_["sd"] != "c" and row_["q90"] != "c"
    for col in ("n_at_least", "share_at_least", "ci_low", "ci_high"):
        assert row_[col] == "c", col
    # Representation: 3 of 11 with free school meals; 8 without is the complement.
    rep = P.representation(make_participants(11, fsm=flags(11, 3)), full_benchmarks("Herts"),
                           SERVICES, characteristics=["fsm"], pooled=False)
    r = _shown(rep).iloc[0]
    assert (r["n"], r["n_known"], r["n_unknown"], r["share_unknown"]) == (11, 11, 0, 0.0)
    assert r["n_with"] == "c" and r["share"] == "c" and r["ratio"] == "c"
    assert r["benchmark"] == pytest.approx(0.2)  # a published figure: kept


def test_equity_gaps_specs_per_measure(equity_data):
    from changing_tracks.disclosure import suppress

    p, a, _ = equity_data
    gaps = P.equity_gaps(p, a)
    # A mean attendance rests on its side's count only: its outcome count is missing (not
    # applicable), so the whole table's spec and the measure's own agree on its rows.
    for measure, spec in gaps.attrs["suppress_by_measure"].items():
        part = gaps[gaps["measure"] == measure]
        for threshold in (2, 10):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                whole = suppress(part, {"threshold": threshold}, **gaps.attrs["suppress"])
                own = suppress(part, {"threshold": threshold}, **spec)
            whole.attrs, own.attrs = {}, {}
            pd.testing.assert_frame_equal(whole.astype(object), own.astype(object))
    att = gaps[gaps["measure"] == "attendance"]
    estimated = att["estimate_group"].notna().to_numpy()
    low = suppress(att, {"threshold": 2}, **gaps.attrs["suppress"])
    assert estimated.any() and (low.loc[estimated, "estimate_group"] != "c").all()
    high = _shown(att)  # 5 in the FSM group: hidden at the default threshold
    assert (high.loc[estimated, "estimate_group"] == "c").all()


def test_publishing_the_sample_participation_tables(sample_dir):
    from changing_tracks.reports import open_report

    report = open_report(sample_dir, "2019-20")
    p, a = report.table("participants"), report.table("attendance")
    rates = P.attendance_rates(p, a)
    tables = [P.reach(p, a), P.representation(p, report.table("benchmarks"),
                                              report.table("services")),
              P.attendance_summary(rates), P.retention(p), P.progression(p),
              P.equity_gaps(p, a)]
    published = [report.publish(table).table for table in tables]
    assert [len(t) for t in published] == [len(t) for t in tables]
    gaps = tables[-1]
    for measure, spec in gaps.attrs["suppress_by_measure"].items():
        published.append(report.publish(gaps[gaps["measure"] == measure], spec=spec).table)
    one = tables[3][tables[3]["service"] == "essex"]
    assert one.attrs["suppress"] == tables[3].attrs["suppress"]
    published.append(report.publish(one).table)
    assert all(t.attrs["disclosure_warnings"] == [] for t in published)
