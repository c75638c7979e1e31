"""Tests for changing_tracks.wellbeing.

Reference values are from ../shared/reference/methods.md (A, B, C, E, I, K) and
domain.md §4 (the SWEMWBS conversion table), or are computed by hand / with
SciPy and statsmodels independently inside the tests.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from changing_tracks import wellbeing as wb  # noqa: E402
from changing_tracks.contracts import SWEMWBS_ITEMS, WEMWBS_ITEMS  # noqa: E402
from changing_tracks.stats import adjust_p, clopper_pearson_ci, wilson_ci  # noqa: E402

OTHER_ITEMS = [k for k in WEMWBS_ITEMS if k not in SWEMWBS_ITEMS]

# methods.md reference A (d = x - y)
REF_X = [20, 22, 19, 20, 22, 18, 24, 20, 19, 24, 26, 13]
REF_Y = [38, 37, 33, 29, 14, 12, 20, 22, 17, 25, 26, 16]
# methods.md reference B
REF_PRE = [5.5, 2.4, 6.8, 9.6, 4.2]
REF_POST = [6.4, 3.4, 6.4, 11.0, 4.8]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def questionnaire(instrument="SWEMWBS", items=None, fill=3, **ids):
    """One wellbeing row: all instrument items = fill unless given in ``items``."""
    keys = WEMWBS_ITEMS if instrument == "WEMWBS" else SWEMWBS_ITEMS
    row = {k: fill for k in keys}
    if instrument == "SWEMWBS":
        row.update({k: pd.NA for k in OTHER_ITEMS})
    row.update(items or {})
    row["instrument"] = instrument
    row.update(ids)
    return row


def wellbeing_frame(rows):
    df = pd.DataFrame(rows)
    for k in WEMWBS_ITEMS:
        if k in df:
            df[k] = df[k].astype("Int64")
    return df


# --------------------------------------------------------------------------
# SWEMWBS conversion
# --------------------------------------------------------------------------

# Typed from domain.md §4, independently of the module's table.
DOMAIN_TABLE = """7.00 9.51 11.25 12.40 13.33 14.08 14.75 15.32 15.84 16.36 16.88 17.43 17.98
18.59 19.25 19.98 20.73 21.54 22.35 23.21 24.11 25.03 26.02 27.03 28.13 29.31 30.70 32.55 35.00"""


@pytest.mark.parametrize("raw,metric", list(zip(range(7, 36),
                                                map(float, DOMAIN_TABLE.split()))))
def test_swemwbs_metric_all_29_values(raw, metric):
    assert wb.swemwbs_metric(raw) == pytest.approx(metric, abs=1e-12)
    assert isinstance(wb.swemwbs_metric(raw), float)


def test_swemwbs_metric_vector_and_table_size():
    assert len(DOMAIN_TABLE.split()) == 29
    out = wb.swemwbs_metric(np.array([7, 21, 29, 35]))
    np.testing.assert_allclose(out, [7.0, 19.25, 26.02, 35.0])  # 26.02, not the 25.99 typo
    assert wb.swemwbs_metric(pd.Series([7.0, 8.0])).tolist() == [7.0, 9.51]
    np.testing.assert_allclose(wb.swemwbs_metric([[7, 8], [9, 10]]), [[7, 9.51], [11.25, 12.4]])


@pytest.mark.parametrize("bad", [6, 36, 21.5, "21", True, -1, float("inf")])
def test_swemwbs_metric_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(").replace(")", r"\)")[:3]):
        wb.swemwbs_metric(bad)
    with pytest.raises(ValueError, match="7 to 35"):
        wb.swemwbs_metric([7, bad, 8])


def test_swemwbs_metric_missing():
    with pytest.raises(ValueError, match="missing"):
        wb.swemwbs_metric([7, np.nan])
    out = wb.swemwbs_metric([7, np.nan, None], missing="nan")
    assert out[0] == 7.0 and np.isnan(out[1:]).all()
    with pytest.raises(ValueError, match="missing must be"):
        wb.swemwbs_metric(7, missing="drop")


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------

def test_score_hand_computed_rows():
    rows = [
        questionnaire("SWEMWBS", response="r1", age=14),  # raw 21 -> 19.25
        questionnaire("WEMWBS", response="r2", age=12),  # 42; SWEMWBS raw 21
        questionnaire("SWEMWBS", items={"optimistic": 1, "useful": 1, "relaxed": 1,
                                        "dealing_with_problems": 1, "thinking_clearly": 1,
                                        "close_to_others": 1, "own_mind": 2},
                      response="r3", age=10),  # raw 8 -> 9.51
        questionnaire("WEMWBS", fill=5, items={"energy": pd.NA}, response="r4"),  # 1 missing
    ]
    s = wb.score(wellbeing_frame(rows))
    assert list(s.columns) == wb.SCORE_COLUMNS
    assert s["raw_total"].tolist()[:3] == [21, 42, 8]
    assert pd.isna(s["raw_total"].iloc[3])  # incomplete, not scored by default
    assert s["wemwbs_total"].iloc[1] == 42 and pd.isna(s["wemwbs_total"].iloc[0])
    assert s["swemwbs_raw"].tolist() == [21, 21, 8, 35]  # energy is not a SWEMWBS item
    np.testing.assert_allclose(s["swemwbs_metric"], [19.25, 19.25, 9.51, 35.0])
    assert s["items_answered"].tolist() == [7, 14, 7, 13]
    assert s["complete"].tolist() == [True, True, True, False]
    assert s["prorated"].tolist() == [False] * 4
    # bands: WEMWBS 42 is 41-44; SWEMWBS 19.25 -> 19 is 18-20; 9.51 is <=17
    assert s["band"].iloc[:3].tolist() == ["possible depression", "possible depression",
                                           "probable depression"]
    assert s["swemwbs_band"].iloc[3] == "high"
    assert (s["band_use"] == "population grouping, not screening").all()
    assert (s["band_set"] == "warwick-2008 v1").all()
    # ages: WEMWBS under 13 and SWEMWBS under 11 are outside the validated range
    assert s["age_valid"].iloc[:3].tolist() == [True, False, False]
    assert pd.isna(s["age_valid"].iloc[3])
    assert s["min_validated_age"].tolist() == [11, 13, 11, 13]
    assert "1 of 14 items missing" in s["note"].iloc[3]
    assert s["response"].tolist() == ["r1", "r2", "r3", "r4"]


def test_score_prorating_rounds_half_up():
    # 6 answered SWEMWBS items summing to 9: 9 * 7 / 6 = 10.5 -> 11 (Python's round gives 10)
    items = dict(zip(SWEMWBS_ITEMS, [1, 1, 1, 2, 2, 2, pd.NA]))
    # 13 answered WEMWBS items, all 5 except energy -> 65 * 14 / 13 = 70
    rows = [questionnaire("SWEMWBS", items=items),
            questionnaire("WEMWBS", fill=5, items={"energy": pd.NA}),
            questionnaire("SWEMWBS", items=dict(zip(SWEMWBS_ITEMS[:2], [pd.NA, pd.NA])))]
    s = wb.score(wellbeing_frame(rows), allow_missing=1)
    assert s["raw_total"].iloc[0] == 11
    assert s["swemwbs_metric"].iloc[0] == pytest.approx(13.33)
    assert s["raw_total"].iloc[1] == 70
    assert s["prorated"].tolist() == [True, True, False]
    assert pd.isna(s["raw_total"].iloc[2]) and np.isnan(s["swemwbs_metric"].iloc[2])
    assert "2 of 7 items missing" in s["note"].iloc[2]
    s2 = wb.score(wellbeing_frame(rows), allow_missing=2)
    # 5 answered, sum 15 -> 15 * 7 / 5 = 21
    assert s2["raw_total"].iloc[2] == 21 and s2["prorated"].iloc[2]


def test_score_swemwbs_band_rounds_metric():
    # raw 18 -> 17.43 (rounds to 17: <=17 band); raw 19 -> 17.98 (rounds to 18)
    r18 = dict(zip(SWEMWBS_ITEMS, [3, 3, 3, 3, 2, 2, 2]))
    r19 = dict(zip(SWEMWBS_ITEMS, [3, 3, 3, 3, 3, 2, 2]))
    s = wb.score(wellbeing_frame([questionnaire(items=r18), questionnaire(items=r19)]))
    assert s["swemwbs_raw"].tolist() == [18, 19]
    assert s["band"].tolist() == ["probable depression", "possible depression"]


def test_score_wemwbs_band_edges():
    def with_total(total):
        vals = [1] * 14
        extra = total - 14
        for i in range(14):
            add = min(4, extra)
            vals[i] += add
            extra -= add
        return questionnaire("WEMWBS", items=dict(zip(WEMWBS_ITEMS, vals)))
    totals = [40, 41, 44, 45, 59, 60]
    s = wb.score(wellbeing_frame([with_total(t) for t in totals]))
    assert s["raw_total"].tolist() == totals
    assert s["band"].tolist() == ["probable depression", "possible depression",
                                  "possible depression", "average", "average", "high"]


def test_score_age_thresholds_are_parameters():
    rows = [questionnaire("WEMWBS", age=14), questionnaire("SWEMWBS", age=12)]
    s = wb.score(wellbeing_frame(rows), min_age_wemwbs=16, min_age_swemwbs=13)
    assert s["age_valid"].tolist() == [False, False]
    assert s.attrs["settings"]["min_age_wemwbs"] == 16


def test_score_accepts_loader_types_and_minimal_frames():
    df = wellbeing_frame([questionnaire("SWEMWBS", response="a", participant="p1",
                                        service="herts", year="2019-20", wave="baseline",
                                        date=pd.Timestamp("2019-10-01"), age=14)])
    df = df.drop(columns=OTHER_ITEMS)  # SWEMWBS-only file without the other 7 columns
    for c in ("response", "participant", "service", "year", "wave"):
        df[c] = df[c].astype("string")
    df["age"] = df["age"].astype("Int64")
    s = wb.score(df)
    assert s["service"].iloc[0] == "herts" and s["raw_total"].iloc[0] == 21
    assert s["date"].iloc[0] == pd.Timestamp("2019-10-01")
    empty = wb.score(df.iloc[0:0])
    assert list(empty.columns) == wb.SCORE_COLUMNS and len(empty) == 0


@pytest.mark.parametrize("change,match", [
    ({"instrument": "PHQ9"}, "instrument must be"),
    ({"optimistic": 6}, "item 'optimistic' must be a whole number from 1 to 5"),
    ({"optimistic": "often"}, "item 'optimistic'"),
])
def test_score_rejects_bad_values(change, match):
    row = questionnaire("SWEMWBS")
    row.update(change)
    with pytest.raises(ValueError, match=match):
        wb.score(pd.DataFrame([row]))


def test_score_rejects_bad_arguments():
    df = wellbeing_frame([questionnaire("WEMWBS")])
    with pytest.raises(ValueError, match="allow_missing"):
        wb.score(df, allow_missing=7)
    with pytest.raises(ValueError, match="band_set"):
        wb.score(df, band_set="made-up")
    with pytest.raises(ValueError, match="item column"):
        wb.score(df.drop(columns=["energy"]))
    with pytest.raises(ValueError, match="instrument"):
        wb.score(df.drop(columns=["instrument"]))
    with pytest.raises(ValueError, match="DataFrame"):
        wb.score([1, 2])


item_value = st.one_of(st.integers(1, 5), st.none())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["WEMWBS", "SWEMWBS"]),
                          st.lists(item_value, min_size=14, max_size=14)),
                min_size=1, max_size=8),
       st.integers(0, 3), st.randoms(use_true_random=False))
def test_score_properties(rows, allow_missing, rnd):
    frame = []
    for inst, vals in rows:
        items = dict(zip(WEMWBS_ITEMS, [pd.NA if v is None else v for v in vals]))
        if inst == "SWEMWBS":
            items.update({k: pd.NA for k in OTHER_ITEMS})
        frame.append({"instrument": inst, **items})
    df = wellbeing_frame(frame)
    s = wb.score(df, allow_missing=allow_missing)
    w = s["instrument"] == "WEMWBS"
    tot = s["raw_total"].astype("Float64")
    # totals within range
    assert tot[w].dropna().between(14, 70).all()
    assert tot[~w].dropna().between(7, 35).all()
    assert s["swemwbs_metric"].dropna().between(7, 35).all()
    # scored exactly when at most allow_missing items are missing
    n_items = np.where(w, 14, 7)
    assert (tot.notna().to_numpy() == (n_items - s["items_answered"] <= allow_missing)).all()
    # invariant to column order
    cols = list(df.columns)
    rnd.shuffle(cols)
    pd.testing.assert_frame_equal(wb.score(df[cols], allow_missing=allow_missing), s)
    # monotone: raising an answered item (a few picked at random) never lowers a score
    for _ in range(2):
        i = rnd.randrange(len(df))
        keys = WEMWBS_ITEMS if s["instrument"].iloc[i] == "WEMWBS" else SWEMWBS_ITEMS
        key = rnd.choice(keys)
        v = df.at[i, key]
        if pd.isna(v) or v == 5:
            continue
        up = df.copy()
        up.at[i, key] = v + 1
        s_up = wb.score(up, allow_missing=allow_missing)
        for col in ("raw_total", "swemwbs_metric"):
            a, b = s[col].iloc[i], s_up[col].iloc[i]
            if pd.notna(a):
                assert b >= a
        if s["complete"].iloc[i]:
            assert s_up["raw_total"].iloc[i] == s["raw_total"].iloc[i] + 1


# --------------------------------------------------------------------------
# Pairing, attrition, completers
# --------------------------------------------------------------------------

def scored_fixture():
    """Hand-built scored table (only the columns pair() needs)."""
    rows = [
        # p1: two baselines (earliest 20 used), two follow-ups (latest 26 used)
        ("p1", "A", "baseline", "2019-09-01", "SWEMWBS", None, 20.0),
        ("p1", "A", "baseline", "2019-09-15", "SWEMWBS", None, 22.0),
        ("p1", "A", "follow-up", "2020-03-01", "SWEMWBS", None, 24.0),
        ("p1", "A", "follow-up", "2020-07-01", "SWEMWBS", None, 26.0),
        # p2: WEMWBS both waves
        ("p2", "A", "baseline", "2019-09-01", "WEMWBS", 40, 19.25),
        ("p2", "A", "follow-up", "2020-07-01", "WEMWBS", 50, 23.21),
        # p3: baseline only (lost)
        ("p3", "A", "baseline", "2019-09-01", "SWEMWBS", None, 15.32),
        # p4: follow-up dated before the baseline -> not paired
        ("p4", "B", "baseline", "2019-10-01", "SWEMWBS", None, 21.54),
        ("p4", "B", "follow-up", "2019-09-01", "SWEMWBS", None, 25.03),
        # p5: WEMWBS baseline, SWEMWBS follow-up (pairs on SWEMWBS only), undated follow-up
        ("p5", "B", "baseline", "2019-10-01", "WEMWBS", 45, 20.73),
        ("p5", "B", "follow-up", None, "SWEMWBS", None, 22.35),
        # p6: follow-up only
        ("p6", "B", "follow-up", "2020-07-01", "SWEMWBS", None, 17.98),
        # p7: baseline not scored (NaN) -> treated as having no baseline
        ("p7", "B", "baseline", "2019-09-01", "SWEMWBS", None, np.nan),
    ]
    df = pd.DataFrame(rows, columns=["participant", "service", "wave", "date", "instrument",
                                     "wemwbs_total", "swemwbs_metric"])
    df["date"] = pd.to_datetime(df["date"])
    df["wemwbs_total"] = df["wemwbs_total"].astype("Int64")
    df["response"] = [f"r{i}" for i in range(len(df))]
    df["year"] = "2019-20"
    return df


def test_pair_rules():
    p = wb.pair(scored_fixture(), scale="SWEMWBS")
    assert list(p.columns) == wb.PAIR_COLUMNS
    assert p["participant"].tolist() == ["p1", "p2", "p5"]
    assert p["baseline"].tolist() == [20.0, 19.25, 20.73]
    assert p["follow_up"].tolist() == [26.0, 23.21, 22.35]
    np.testing.assert_allclose(p["change"], [6.0, 3.96, 1.62])
    assert p["baseline_response"].iloc[0] == "r0" and p["follow_up_response"].iloc[0] == "r3"
    assert "repeats: 2 baseline(s), 2 follow-up(s)" in p["note"].iloc[0]
    assert (p["baseline_instrument"].iloc[2], p["follow_up_instrument"].iloc[2]) == (
        "WEMWBS", "SWEMWBS")
    # other rules
    p2 = wb.pair(scored_fixture(), baseline_rule="latest", follow_up_rule="earliest")
    assert p2.loc[p2["participant"] == "p1", ["baseline", "follow_up"]].iloc[0].tolist() == [
        22.0, 24.0]


def test_pair_wemwbs_never_mixes_instruments():
    p = wb.pair(scored_fixture(), scale="WEMWBS")
    assert p["participant"].tolist() == ["p2"]
    assert p["change"].tolist() == [10.0]
    assert (p["scale"] == "WEMWBS").all()


def test_pair_keep_all_reasons():
    p = wb.pair(scored_fixture(), keep="all").set_index("participant")
    assert p.loc["p3", "note"] == "no scored follow-up"
    assert p.loc["p4", "note"] == "no follow-up dated after the baseline"
    assert p.loc["p6", "note"] == "no scored baseline" and pd.isna(p.loc["p6", "baseline"])
    assert "p7" not in p.index  # no scored questionnaire at all
    assert p["paired"].sum() == 3


def test_pair_empty_and_errors():
    empty = wb.pair(scored_fixture().iloc[0:0])
    assert len(empty) == 0 and list(empty.columns) == wb.PAIR_COLUMNS
    with pytest.raises(ValueError, match="scale"):
        wb.pair(scored_fixture(), scale="both")
    with pytest.raises(ValueError, match="wave"):
        wb.pair(scored_fixture().assign(wave="interim"))
    with pytest.raises(ValueError, match="participant"):
        wb.pair(scored_fixture().drop(columns="participant"))


def test_pair_from_score_output():
    rows = [questionnaire("SWEMWBS", participant="a", service="S", year="2019-20",
                          wave="baseline", date=pd.Timestamp("2019-09-01"), response="1"),
            questionnaire("SWEMWBS", fill=4, participant="a", service="S", year="2019-20",
                          wave="follow-up", date=pd.Timestamp("2020-07-01"), response="2")]
    p = wb.pair(wb.score(wellbeing_frame(rows)))
    assert p["change"].iloc[0] == pytest.approx(wb.SWEMWBS_METRIC[28] - wb.SWEMWBS_METRIC[21])


def test_attrition_counts_and_wilson():
    a = wb.attrition(scored_fixture())
    assert a["service"].tolist() == ["A", "B", "All services"]
    # A: p1, p2 paired, p3 lost; B: p4 (follow-up before baseline) lost, p5 paired,
    # p6 follow-up only, p7 no scored baseline
    assert a["n_baseline"].tolist() == [3, 2, 5]
    assert a["n_paired"].tolist() == [2, 1, 3]
    assert a["n_lost"].tolist() == [1, 1, 2]
    assert a["n_follow_up"].tolist() == [2, 3, 5]
    assert a["n_follow_up_only"].tolist() == [0, 1, 1]
    assert a["n"].tolist() == [3, 3, 6]
    np.testing.assert_allclose(a["pct_lost"], [100 / 3, 50, 40])
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(2, 5, method="wilson")
    assert a["pct_lost_ci_low"].iloc[2] == pytest.approx(100 * lo)
    assert a["pct_lost_ci_high"].iloc[2] == pytest.approx(100 * hi)
    empty = wb.attrition(scored_fixture().iloc[0:0])
    assert empty["n"].tolist() == [0] and "no scored baselines" in empty["note"].iloc[0]


def test_reference_c_wilson_and_clopper_pearson():
    lo, hi = wilson_ci([5, 7, 0], [25, 50, 20])
    np.testing.assert_allclose(lo, [0.0886, 0.0695, 0], atol=5e-5)
    np.testing.assert_allclose(hi, [0.3913, 0.2619, 0.1611], atol=5e-5)
    lo, hi = clopper_pearson_ci([5, 7, 0], [25, 50, 20])
    np.testing.assert_allclose(lo, [0.0683, 0.0582, 0], atol=5e-5)
    np.testing.assert_allclose(hi, [0.4070, 0.2674, 0.1684], atol=5e-5)


def test_completer_comparison_matches_welch():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(30):
        rows.append((f"p{i}", "A", "baseline", rng.normal(22, 4)))
        if i < 18:
            rows.append((f"p{i}", "A", "follow-up", rng.normal(23, 4)))
    df = pd.DataFrame(rows, columns=["participant", "service", "wave", "swemwbs_metric"])
    c = wb.completer_comparison(df)
    row = c.iloc[-1]
    base = df[df["wave"] == "baseline"].set_index("participant")["swemwbs_metric"]
    comp, non = base.iloc[:18].to_numpy(), base.iloc[18:].to_numpy()
    ref = stats.ttest_ind(comp, non, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert (row["n"], row["n_completers"], row["n_non_completers"]) == (30, 18, 12)
    assert row["difference"] == pytest.approx(comp.mean() - non.mean())
    assert row["sd_completers"] == pytest.approx(comp.std(ddof=1))
    assert row["ci_low"] == pytest.approx(ci.low) and row["ci_high"] == pytest.approx(ci.high)
    assert row["t"] == pytest.approx(ref.statistic) and row["p"] == pytest.approx(ref.pvalue)
    assert row["df"] == pytest.approx(ref.df)


def test_completer_comparison_small_groups():
    c = wb.completer_comparison(scored_fixture())
    # B: one completer (p5), one non-completer (p4): no CI, explained
    b = c[c["service"] == "B"].iloc[0]
    assert np.isnan(b["ci_low"]) and "fewer than 2" in b["note"]
    assert b["difference"] == pytest.approx(20.73 - 21.54)
    pooled = c.iloc[-1]  # n = 5 < 10: CI but no p-value
    assert not np.isnan(pooled["ci_low"]) and np.isnan(pooled["p"])
    assert "no p-value" in pooled["note"]


# --------------------------------------------------------------------------
# paired_change (references A and B)
# --------------------------------------------------------------------------

def test_reference_a():
    # methods.md A: d = x - y. With change = follow_up - baseline, follow_up = x, baseline = y.
    r = wb.paired_change(baseline=REF_Y, follow_up=REF_X).iloc[0]
    assert r["n"] == 12
    assert r["mean_change"] == pytest.approx(-3.5, abs=1e-12)
    assert r["sd_change"] == pytest.approx(8.597, abs=5e-4)
    assert r["t"] == pytest.approx(-1.4103, abs=5e-5)
    assert r["df"] == 11
    assert r["p"] == pytest.approx(0.1861, abs=5e-5)
    assert r["ci_low"] == pytest.approx(-8.962, abs=5e-4)
    assert r["ci_high"] == pytest.approx(1.962, abs=5e-4)
    assert r["d_z"] == pytest.approx(-0.4071, abs=5e-5)
    assert r["d_z_ci_low"] == pytest.approx(-0.989, abs=5e-4)
    assert r["d_z_ci_high"] == pytest.approx(0.192, abs=5e-4)
    assert r["d_av"] == pytest.approx(-0.5244, abs=5e-5)
    assert r["wilcoxon_w"] == pytest.approx(20.5)
    assert r["wilcoxon_p"] == pytest.approx(0.266166, abs=5e-7)
    assert r["rank_biserial"] == pytest.approx(-0.378788, abs=5e-7)
    assert (r["wilcoxon_zero_method"], r["wilcoxon_method"], r["wilcoxon_correction"]) == (
        "wilcox", "asymptotic", False)
    assert r["note"] == ""
    pratt = wb.paired_change(REF_Y, REF_X, wilcoxon_zero_method="pratt").iloc[0]
    assert pratt["wilcoxon_w"] == pytest.approx(24.5)
    assert pratt["wilcoxon_p"] == pytest.approx(0.271541, abs=5e-7)
    assert pratt["wilcoxon_zero_method"] == "pratt"


def test_reference_a_reversed_roles_flip_signs_only():
    fwd = wb.paired_change(REF_Y, REF_X).iloc[0]
    rev = wb.paired_change(REF_X, REF_Y).iloc[0]
    for col in ("mean_change", "t", "d_z", "d_av", "rank_biserial"):
        assert rev[col] == pytest.approx(-fwd[col])
    assert (rev["ci_low"], rev["ci_high"]) == pytest.approx((-fwd["ci_high"], -fwd["ci_low"]))
    assert rev["d_z_ci_low"] == pytest.approx(-fwd["d_z_ci_high"], abs=1e-8)
    for col in ("p", "wilcoxon_w", "wilcoxon_p", "sd_change"):
        assert rev[col] == pytest.approx(fwd[col])


def test_d_av_arithmetic_mean_option():
    r = wb.paired_change(REF_Y, REF_X, d_av_standardiser="mean").iloc[0]
    sd_x, sd_y = np.std(REF_X, ddof=1), np.std(REF_Y, ddof=1)
    assert r["d_av"] == pytest.approx(-3.5 / ((sd_x + sd_y) / 2))
    assert "arithmetic mean" in r["d_av_standardiser"]
    assert r["d_av"] == pytest.approx(-0.5737, abs=5e-5)


def test_reference_b():
    # methods.md B gives t on pre - post; here change = post - pre, so signs flip.
    r = wb.paired_change(baseline=REF_PRE, follow_up=REF_POST, min_n_for_tests=5).iloc[0]
    assert r["t"] == pytest.approx(2.31, abs=5e-3)
    assert r["df"] == 4
    assert r["p"] == pytest.approx(0.0822, abs=5e-5)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-0.142, 1.542), abs=5e-4)
    assert r["d_z"] == pytest.approx(1.032, abs=5e-4)
    same = wb.paired_change(baseline=REF_POST, follow_up=REF_PRE, min_n_for_tests=5).iloc[0]
    assert same["t"] == pytest.approx(-2.31, abs=5e-3)
    assert (same["ci_low"], same["ci_high"]) == pytest.approx((-1.542, 0.142), abs=5e-4)
    assert same["d_z"] == pytest.approx(-1.032, abs=5e-4)


def test_small_n_gives_descriptives_and_cis_only():
    r = wb.paired_change(REF_PRE, REF_POST).iloc[0]  # n = 5 < 10
    assert np.isnan(r["p"]) and np.isnan(r["wilcoxon_p"])
    assert r["ci_low"] == pytest.approx(-0.142, abs=5e-4)
    assert not np.isnan(r["d_z_ci_low"])
    assert "n < 10" in r["note"]


def test_wilcoxon_exact_setting_recorded():
    r = wb.paired_change(REF_Y, REF_X, wilcoxon_method="exact").iloc[0]
    ref = stats.wilcoxon(np.array(REF_X) - REF_Y, method="exact")
    assert r["wilcoxon_method"] == "exact"
    assert r["wilcoxon_p"] == pytest.approx(ref.pvalue)


@pytest.mark.parametrize("b,f,expect", [
    ([], [], "no pairs"),
    ([np.nan, 3], [4, np.nan], "no pairs"),
    ([10], [12], "one pair"),
    ([10, 11, 12], [12, 13, 14], "every change is the same"),
    ([10, 11, 12], [10, 11, 12], "no non-zero change"),
])
def test_paired_change_edge_cases(b, f, expect):
    out = wb.paired_change(b, f)
    assert len(out) == 1
    assert expect in out["note"].iloc[0]
    assert np.isnan(out["p"].iloc[0])


def test_paired_change_drops_incomplete_pairs():
    r = wb.paired_change(REF_Y + [np.nan], REF_X + [30]).iloc[0]
    assert r["n"] == 12 and r["n_dropped"] == 1
    assert r["t"] == pytest.approx(-1.4103, abs=5e-5)
    assert "1 pair(s) with a missing score dropped" in r["note"]


@pytest.mark.parametrize("kwargs,match", [
    ({"wilcoxon_zero_method": "zero"}, "wilcoxon_zero_method"),
    ({"wilcoxon_method": "perm"}, "wilcoxon_method"),
    ({"confidence": 95}, "confidence"),
    ({"min_n_for_tests": 1}, "min_n_for_tests"),
    ({"d_av_standardiser": "pooled"}, "d_av_standardiser"),
])
def test_paired_change_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wb.paired_change(REF_Y, REF_X, **kwargs)


def test_paired_change_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="equal length"):
        wb.paired_change([1, 2, 3], [1, 2])


# --------------------------------------------------------------------------
# Reliable change (reference K) and regression to the mean
# --------------------------------------------------------------------------

def test_reference_k():
    assert 1.96 * math.sqrt(2) == pytest.approx(2.7719, abs=5e-5)
    assert wb.reliable_change_threshold(sem=1.0)["threshold"] == pytest.approx(2.7719, abs=5e-5)
    rc = wb.reliable_change_threshold("SWEMWBS")
    assert rc["sem"] == 1.03
    # 1.96 * sqrt(2) * 1.03 = 2.855; domain.md rounds this to 2.87 (difference 0.015)
    assert rc["threshold"] == pytest.approx(1.96 * math.sqrt(2) * 1.03)
    assert rc["threshold"] == pytest.approx(2.87, abs=0.02)
    assert "Shah 2018" in rc["source"]


def test_reliable_change_wemwbs_values_from_domain():
    assert wb.reliable_change_threshold("WEMWBS")["threshold"] == pytest.approx(10.2, abs=0.05)
    assert wb.reliable_change_threshold("WEMWBS", reliability=0.91)["threshold"] == (
        pytest.approx(7.4, abs=0.06))  # 7.45; domain.md prints 7.4
    assert wb.reliable_change_threshold("WEMWBS", sd=6.8, reliability=0.87)["threshold"] == (
        pytest.approx(6.8, abs=0.05))
    assert wb.reliable_change_threshold("WEMWBS", threshold=3)["threshold"] == 3
    with pytest.raises(ValueError, match="reliability"):
        wb.reliable_change_threshold("WEMWBS", reliability=1.2)
    with pytest.raises(ValueError, match="both sd and reliability"):
        wb.reliable_change_threshold("SWEMWBS", sd=4.0)


def test_regression_to_mean_formula_and_simulation():
    # cut-off at the mean: z = 0, phi(0) / Phi(0) = 0.3989423 / 0.5
    assert wb.regression_to_mean(50, 50, 10, 0.8) == pytest.approx(0.2 * 10 * 0.7978846, abs=1e-6)
    # simulation (seeded): bivariate normal, select baseline < 42
    rng = np.random.default_rng(0)
    mu, sigma, r = 48.8, 6.8, 0.83
    cov = sigma**2 * np.array([[1, r], [r, 1]])
    x = rng.multivariate_normal([mu, mu], cov, size=400_000)
    sel = x[x[:, 0] < 42]
    expected = wb.regression_to_mean(42, mu, sigma, r)
    assert (sel[:, 1] - sel[:, 0]).mean() == pytest.approx(expected, abs=0.03)
    with pytest.raises(ValueError, match="population_sd"):
        wb.regression_to_mean(42, mu, 0, r)


# --------------------------------------------------------------------------
# change_by
# --------------------------------------------------------------------------

def pairs_fixture(seed=1, services=("A", "B", "C"), sizes=(12, 8, 15), shift=(1.0, 2.0, 0.0)):
    rng = np.random.default_rng(seed)
    rows = []
    for s, n, d in zip(services, sizes, shift):
        for i in range(n):
            b = float(np.round(rng.normal(21, 3), 2))
            f = float(np.round(b + d + rng.normal(0, 3), 2))
            rows.append((f"{s}{i}", s, "baseline", b))
            rows.append((f"{s}{i}", s, "follow-up", f))
    return pd.DataFrame(rows, columns=["participant", "service", "wave", "swemwbs_metric"])


def test_change_by_hand_counts():
    base = [20.0, 20.0, 20.0, 20.0, 20.0]
    foll = [24.0, 22.0, 20.0, 16.9, 23.0]  # changes 4, 2, 0, -3.1, 3
    rows = []
    for i, (b, f) in enumerate(zip(base, foll)):
        rows += [(f"p{i}", "A", "baseline", b), (f"p{i}", "A", "follow-up", f)]
    df = pd.DataFrame(rows, columns=["participant", "service", "wave", "swemwbs_metric"])
    t = wb.change_by(df, threshold=3.0)
    a = t.iloc[0]
    assert t["service"].tolist() == ["A", "All services"]
    assert (a["n_improved"], a["n_no_reliable_change"], a["n_deteriorated"]) == (2, 2, 1)
    assert a["pct_improved"] == pytest.approx(40)
    lo, hi = wilson_ci(2, 5)
    assert (a["pct_improved_ci_low"], a["pct_improved_ci_high"]) == pytest.approx(
        (100 * lo, 100 * hi))
    assert a["rc_threshold"] == 3.0 and "threshold 3 given" in a["rc_source"]
    assert (a["n_warwick_improved"], a["n_warwick_deteriorated"]) == (2, 1)
    assert a["mean_change"] == pytest.approx(np.mean([4, 2, 0, -3.1, 3]))
    assert np.isnan(a["p"]) and "n < 10" in a["note"]
    assert a["norm"] is None or pd.isna(a["norm"])  # auto: no SWEMWBS norm
    assert np.isnan(a["rtm_expected"])
    # pooled row equals the single service
    assert t.iloc[1]["mean_change"] == pytest.approx(a["mean_change"])


def test_change_by_services_pooled_and_settings():
    df = pairs_fixture()
    t = wb.change_by(df)
    assert t["service"].tolist() == ["A", "B", "C", "All services"]
    assert t["n"].tolist() == [12, 8, 15, 35]
    p = wb.pair(df)
    for svc in ("A", "B", "C"):
        sub = p[p["service"] == svc]
        ref = stats.ttest_rel(sub["follow_up"], sub["baseline"])
        row = t[t["service"] == svc].iloc[0]
        assert row["t"] == pytest.approx(ref.statistic)
        if len(sub) >= 10:
            assert row["p"] == pytest.approx(ref.pvalue)
        else:
            assert np.isnan(row["p"])
    pooled = t.iloc[-1]
    assert pooled["mean_change"] == pytest.approx(p["change"].mean())
    assert pooled["rc_threshold"] == pytest.approx(1.96 * math.sqrt(2) * 1.03)
    assert (pooled["n_improved"] + pooled["n_no_reliable_change"]
            + pooled["n_deteriorated"]) == 35
    assert t.attrs["settings"]["change"] == "follow_up - baseline"
    assert t["instruments"].iloc[0] == "SWEMWBS"  # no instrument column: the scale
    for col in ("n", "n_improved", "n_warwick_improved", "n_outside_validated_age"):
        assert t[col].dtype == np.int64
    # accepts pairs as input
    t2 = wb.change_by(p)
    pd.testing.assert_series_equal(t2["mean_change"], t["mean_change"])


def test_change_by_norm_and_regression_to_mean():
    df = pairs_fixture().rename(columns={"swemwbs_metric": "wemwbs_total"})
    df["wemwbs_total"] = df["wemwbs_total"] * 2  # on the WEMWBS range
    df["instrument"] = "WEMWBS"
    t = wb.change_by(df, scale="WEMWBS", selection_cutoff=45)
    pooled = t.iloc[-1]
    base = wb.pair(df, scale="WEMWBS")["baseline"]
    ref = stats.ttest_1samp(base, 48.8)
    assert pooled["norm"] == "clarke-2011-teenagers-13-16"
    assert pooled["norm_survey"].startswith("WEMWBS validation") and pooled["norm_mean"] == 48.8
    assert pooled["baseline_minus_norm"] == pytest.approx(base.mean() - 48.8)
    assert pooled["norm_t"] == pytest.approx(ref.statistic)
    assert pooled["norm_p"] == pytest.approx(ref.pvalue)
    expected = wb.regression_to_mean(45, 48.8, 6.8, 0.83)
    assert pooled["rtm_expected"] == pytest.approx(expected)
    assert pooled["change_beyond_rtm"] == pytest.approx(pooled["mean_change"] - expected)
    assert "Barnett 2005" in pooled["rtm_settings"]
    assert pooled["rc_threshold"] == pytest.approx(10.24, abs=0.01)
    assert pooled["instruments"] == "WEMWBS"
    # named adult norm on the other scale is refused: instruments never mixed
    with pytest.raises(ValueError, match="never mixed"):
        wb.change_by(df, scale="WEMWBS", norm="ng-fat-2017-women")
    with pytest.raises(ValueError, match="population_sd"):
        wb.change_by(pairs_fixture(), selection_cutoff=18)
    t3 = wb.change_by(pairs_fixture(), norm="ng-fat-2017-women", selection_cutoff=18,
                      population_sd=4.0, retest_r=0.7)
    assert t3["rtm_expected"].iloc[0] == pytest.approx(wb.regression_to_mean(18, 23.2, 4.0, 0.7))


def test_change_by_edge_cases():
    empty = wb.change_by(pairs_fixture().iloc[0:0])
    assert empty["service"].tolist() == ["All services"]
    assert empty["n"].tolist() == [0] and "no pairs" in empty["note"].iloc[0]
    assert np.isnan(empty["pct_improved"].iloc[0])
    nobody = pairs_fixture().assign(swemwbs_metric=np.nan)
    assert wb.change_by(nobody)["n"].tolist() == [0]
    only_pooled = wb.change_by(pairs_fixture(), by=None)
    assert only_pooled["group"].tolist() == ["All services"]
    with pytest.raises(ValueError, match="by must be"):
        wb.change_by(pairs_fixture(), by="region")
    with pytest.raises(ValueError, match="norm must be"):
        wb.change_by(pairs_fixture(), norm="made-up")
    with pytest.raises(ValueError, match="scale"):
        wb.change_by(pairs_fixture(), scale="wemwbs")
    with pytest.raises(ValueError, match="unexpected argument"):
        wb.change_by(pairs_fixture(), keep="all")
    with pytest.raises(ValueError, match="unexpected argument"):
        wb.attrition(pairs_fixture(), threshold=3)
    rules = wb.attrition(scored_fixture(), baseline_rule="latest")
    assert rules.attrs["settings"]["baseline_rule"] == "latest"


# --------------------------------------------------------------------------
# Across services
# --------------------------------------------------------------------------

def change_table(ns, means, sds):
    return pd.DataFrame({"service": [f"S{i}" for i in range(len(ns))], "n": ns,
                         "mean_change": means, "sd_change": sds,
                         "se_change": np.array(sds) / np.sqrt(ns)})


def test_funnel_data_hand_computed():
    t = change_table([10, 20, 40], [1.0, 2.0, 0.5], [3.0, 4.0, 2.0])
    f = wb.funnel_data(t, overdispersion="none")
    target = (10 * 1 + 20 * 2 + 40 * 0.5) / 70
    sdw = math.sqrt((9 * 9 + 19 * 16 + 39 * 4) / (9 + 19 + 39))
    assert f["target"].iloc[0] == pytest.approx(target)
    assert f["sd_within"].iloc[0] == pytest.approx(sdw)
    se = sdw / np.sqrt([10, 20, 40])
    np.testing.assert_allclose(f["upper_95"], target + 1.959964 * se, rtol=1e-6)
    np.testing.assert_allclose(f["lower_998"], target - 3.090232 * se, rtol=1e-6)
    z = (np.array([1.0, 2.0, 0.5]) - target) / se
    np.testing.assert_allclose(f["z"], z)
    assert f["phi"].iloc[0] == pytest.approx(np.mean(z**2))  # 3 services: nothing winsorised
    assert f["inflation"].iloc[0] == 1.0 and f["adjustment"].iloc[0] == "none"
    assert set(f["position"]) <= {"inside 95% limits"} | {
        f"{a} ({b})" for a in ("between 95% and 99.8% limits", "outside 99.8% limits")
        for b in ("above", "below")}


def test_funnel_overdispersion_multiplicative():
    t = change_table([20] * 6, [-4.0, 4.0, -3.0, 3.0, 0.0, 5.0], [3.0] * 6)
    auto = wb.funnel_data(t)
    z = auto["z"].to_numpy()
    phi = np.mean(z**2)  # 6 services, 10%: nothing winsorised
    assert auto["phi"].iloc[0] == pytest.approx(phi)
    assert phi > 1 and auto["overdispersion_applied"].iloc[0]
    assert auto["overdispersion_p"].iloc[0] == pytest.approx(stats.chi2.sf(6 * phi, 5))
    plain = wb.funnel_data(t, overdispersion="none")
    np.testing.assert_allclose(auto["upper_95"] - auto["target"],
                               math.sqrt(phi) * (plain["upper_95"] - plain["target"]))
    # winsorising 20% of 10 services pulls in the two extreme z-scores
    t10 = change_table([20] * 10, list(np.linspace(-3, 3, 9)) + [12.0], [3.0] * 10)
    f10 = wb.funnel_data(t10, winsorize=0.2)
    zz = np.sort(f10["z"].to_numpy())
    zw = np.clip(f10["z"].to_numpy(), zz[2], zz[-3])
    assert f10["phi"].iloc[0] == pytest.approx(np.mean(zw**2))


def test_funnel_data_ignores_pooled_row_and_small_services():
    t = wb.change_by(pairs_fixture())
    f = wb.funnel_data(t)
    assert f["service"].tolist() == ["A", "B", "C"]
    one = wb.funnel_data(change_table([10], [1.0], [2.0]))
    assert one.empty and "fewer than 2" in one.attrs["note"]
    with pytest.raises(ValueError, match="overdispersion"):
        wb.funnel_data(t, overdispersion="additive")


def test_reference_i_eight_schools():
    y = [28, 8, -3, 7, -1, 1, 18, 12]
    se = [15, 10, 16, 11, 9, 11, 10, 18]
    t = pd.DataFrame({"service": list("ABCDEFGH"), "n": 20, "mean_change": y,
                      "se_change": se})
    f = wb.forest_data(t)  # DerSimonian-Laird
    fe = f[f["kind"] == "pooled (fixed effect)"].iloc[0]
    re = f[f["kind"] == "pooled (random effects)"].iloc[0]
    assert fe["estimate"] == pytest.approx(7.686, abs=5e-4)
    assert fe["se"] ** 2 == pytest.approx(16.58, abs=5e-3)
    assert f["q"].iloc[0] == pytest.approx(4.71, abs=5e-3)
    assert f["q_df"].iloc[0] == 7
    assert f["tau2"].iloc[0] == 0.0
    assert re["estimate"] == pytest.approx(fe["estimate"])
    assert "DerSimonian-Laird" in re["method"] and "DerSimonian-Laird" in re["service"]
    assert "truncated at 0" in re["note"]
    assert f["i2"].iloc[0] == 0.0
    assert f.loc[f["kind"] == "service", "weight_fixed"].sum() == pytest.approx(100)
    pm = wb.forest_data(t, method="pm")
    assert pm["tau2"].iloc[0] == pytest.approx(0.0, abs=1e-8)
    assert "Paule-Mandel" in pm["method"].iloc[0]


def test_forest_random_effects_with_heterogeneity():
    y = np.array([-2.0, 1.0, 4.0, 6.0, 0.5])
    se = np.array([1.0, 1.2, 0.8, 1.5, 1.0])
    t = pd.DataFrame({"service": list("ABCDE"), "n": [10, 12, 9, 20, 11],
                      "mean_change": y, "se_change": se})
    f = wb.forest_data(t, confidence=0.9)
    w = 1 / se**2
    fe = np.sum(w * y) / w.sum()
    q = np.sum(w * (y - fe) ** 2)
    tau2 = (q - 4) / (w.sum() - np.sum(w**2) / w.sum())  # DerSimonian-Laird by hand
    wr = 1 / (se**2 + tau2)
    re = np.sum(wr * y) / wr.sum()
    row = f[f["kind"] == "pooled (random effects)"].iloc[0]
    assert f["tau2"].iloc[0] == pytest.approx(tau2)
    assert row["estimate"] == pytest.approx(re)
    assert row["ci_high"] - row["estimate"] == pytest.approx(1.644854 * math.sqrt(1 / wr.sum()),
                                                             rel=1e-6)
    assert row["n"] == 62
    # no ci columns in the input: normal CIs for the services
    svc = f[f["kind"] == "service"]
    np.testing.assert_allclose(svc["ci_low"], y - 1.644854 * se, rtol=1e-6)


def test_forest_uses_change_table_t_intervals():
    t = wb.change_by(pairs_fixture())
    f = wb.forest_data(t)
    svc = f[f["kind"] == "service"]
    np.testing.assert_allclose(svc["ci_low"], t["ci_low"].iloc[:3])
    assert wb.forest_data(t.iloc[[0, 3]]).empty
    with pytest.raises(ValueError, match="method"):
        wb.forest_data(t, method="reml")


def grouped_changes(tau, sigma=3.0, sizes=(8, 15, 10, 20, 12, 9), seed=5):
    rng = np.random.default_rng(seed)
    rows = []
    for g, n in enumerate(sizes):
        u = rng.normal(0, tau)
        rows += [(f"S{g}", 1.5 + u + rng.normal(0, sigma)) for _ in range(n)]
    return pd.DataFrame(rows, columns=["service", "change"])


def test_shrunken_estimates_blups():
    df = grouped_changes(tau=2.5)
    s = wb.shrunken_estimates(df)
    svc = s[s["kind"] == "service"]
    pooled = s[s["kind"] == "pooled (model intercept)"].iloc[0]
    mu, tau2, sig2 = pooled["estimate"], s["group_var"].iloc[0], s["residual_var"].iloc[0]
    assert tau2 > 0.1
    means = df.groupby("service")["change"].mean()
    n = df.groupby("service").size()
    k = tau2 / (tau2 + sig2 / n)
    # BLUP = mu + k * (mean - mu), shrinkage towards the pooled mean
    np.testing.assert_allclose(svc["estimate"], (mu + k * (means - mu)).to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(svc["shrinkage"], k.to_numpy())
    # GLS estimate of the intercept given the variance components
    w = n / (sig2 + n * tau2)
    assert mu == pytest.approx(float(np.sum(w * means) / w.sum()), rel=1e-4)
    assert pooled["se"] == pytest.approx(math.sqrt(1 / w.sum()))
    assert pooled["z"] == pytest.approx(mu / pooled["se"])
    assert "Wald z, not t" in pooled["method"]
    assert "lbfgs" in pooled["optimisers_compared"] and "powell" in pooled["optimisers_compared"]
    assert pooled["optimiser"] in ("lbfgs", "powell")
    assert pooled["n"] == len(df)


def test_shrunken_estimates_zero_group_variance():
    df = grouped_changes(tau=0.0, seed=11)
    s = wb.shrunken_estimates(df)
    pooled = s.iloc[-1]
    assert "variance ~0" in pooled["note"]
    # everyone shrunk to the pooled mean, which is then the grand mean (not 0: issue #10239)
    assert pooled["estimate"] == pytest.approx(df["change"].mean(), abs=1e-3)
    np.testing.assert_allclose(s.loc[s["kind"] == "service", "estimate"], pooled["estimate"],
                               atol=1e-2)


def test_shrunken_estimates_small_inputs():
    one = wb.shrunken_estimates(pd.DataFrame({"service": ["A", "A"], "change": [1.0, 2.0]}))
    assert one["estimate"].isna().all() and "no model fitted" in one["note"].iloc[0]
    none = wb.shrunken_estimates(pd.DataFrame({"service": [], "change": []}))
    assert none.empty
    with pytest.raises(ValueError, match="optimisers"):
        wb.shrunken_estimates(grouped_changes(1.0), optimisers="lbfgs")


def test_reference_e_adjustment():
    p = [0.01, 0.04, 0.03, 0.005, 0.20]
    np.testing.assert_allclose(adjust_p(p, "holm"), [0.04, 0.09, 0.09, 0.025, 0.20])
    np.testing.assert_allclose(adjust_p(p, "fdr_bh"), [0.025, 0.05, 0.05, 0.025, 0.20])


def test_kruskal_dunn_two_groups_z_squared_is_h():
    # With two groups Dunn's tie-corrected z^2 equals the tie-corrected Kruskal-Wallis H.
    df = pd.DataFrame({"service": ["A"] * 6 + ["B"] * 5,
                       "change": [1, 2, 2, 3, 5, 5, 2, 4, 6, 6, 7]})
    kd = wb.kruskal_dunn(df)
    h = stats.kruskal([1, 2, 2, 3, 5, 5], [2, 4, 6, 6, 7]).statistic
    assert kd["statistic"].iloc[0] == pytest.approx(h)
    assert kd["statistic"].iloc[1] ** 2 == pytest.approx(h)
    assert kd["statistic"].iloc[1] < 0  # A ranks lower than B
    assert kd["p"].iloc[1] == pytest.approx(kd["p"].iloc[0])


def test_kruskal_dunn_holm_and_hand_ranks():
    df = pd.DataFrame({"service": list("AAABBBCCC"), "change": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
    kd = wb.kruskal_dunn(df)
    dunn = kd[kd["test"] == "Dunn"]
    assert list(zip(dunn["group_a"], dunn["group_b"])) == [("A", "B"), ("A", "C"), ("B", "C")]
    # no ties: v = N(N+1)/12 = 7.5; A vs C: (2 - 8) / sqrt(7.5 * 2/3) = -6 / sqrt(5)
    assert dunn["statistic"].iloc[1] == pytest.approx(-6 / math.sqrt(5))
    assert dunn["mean_rank_a"].tolist() == [2.0, 2.0, 5.0]
    np.testing.assert_allclose(dunn["p_adjusted"], adjust_p(dunn["p"], "holm"))
    assert (dunn["adjustment"] == "holm").all()
    bh = wb.kruskal_dunn(df, adjust="fdr_bh")
    assert (bh.loc[bh["test"] == "Dunn", "adjustment"] == "fdr_bh").all()
    with pytest.raises(ValueError, match="adjust"):
        wb.kruskal_dunn(df, adjust="bonferroni")


def test_kruskal_dunn_edge_cases():
    one = wb.kruskal_dunn(pd.DataFrame({"service": ["A", "A"], "change": [1.0, 2.0]}))
    assert one.empty and "fewer than 2" in one.attrs["note"]
    same = wb.kruskal_dunn(pd.DataFrame({"service": list("AABB"), "change": [1.0] * 4}))
    assert "every change is the same" in same["note"].iloc[0]
    assert same["p"].isna().all()


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------

def test_figures_return_figures_with_plain_titles():
    df = pairs_fixture()
    pairs = wb.pair(df)
    table = wb.change_by(df)
    figs = {
        "paired": wb.paired_plot(pairs),
        "distribution": wb.change_distribution_plot(pairs),
        "funnel": wb.funnel_plot(wb.funnel_data(table), scale="SWEMWBS"),
        "forest": wb.forest_plot(wb.forest_data(table), scale="SWEMWBS"),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure), name
        texts = [t.get_text() for t in fig.texts]
        assert wb.COPYRIGHT in texts, name
        titles = [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]
        assert any("wellbeing" in t.lower() for t in titles), name
        fig.canvas.draw()
    dist_ax = figs["distribution"].axes[0]
    assert "follow-up minus baseline" in dist_ax.get_xlabel()
    assert "2.9 points" in dist_ax.get_legend().get_texts()[0].get_text()
    assert figs["forest"].axes[0].get_yticklabels()[0].get_text() == "A (n=12)"


def test_figures_fit_their_canvas_with_the_caption_clear_of_the_axes():
    # one service with a long name: the panel's title, the figure's title and the
    # copyright caption all wrap within the figure
    long_name = "Resonate (Liverpool Music Hub), Music Education Hub for the city"
    one = wb.pair(pairs_fixture(services=(long_name,), sizes=(12,), shift=(1.0,)))
    df = pairs_fixture()
    table = wb.change_by(df)
    for fig in (wb.paired_plot(one), wb.paired_plot(wb.pair(df)),
                wb.change_distribution_plot(one),
                wb.funnel_plot(wb.funnel_data(table), scale="SWEMWBS"),
                wb.forest_plot(wb.forest_data(table), scale="SWEMWBS")):
        renderer = assert_within_canvas(fig)
        caption, = [t for t in fig.texts if t.get_text() == wb.COPYRIGHT]
        top = caption.get_window_extent(renderer).y1
        assert all(top <= ax.get_tightbbox(renderer).y0 + 0.5 for ax in fig.axes
                   if ax.get_visible() and ax.axison)


def test_figures_with_empty_inputs():
    pairs = wb.pair(pairs_fixture().iloc[0:0])
    table = wb.change_by(pairs_fixture().iloc[0:0])
    for fig in (wb.paired_plot(pairs), wb.change_distribution_plot(pairs, scale="SWEMWBS"),
                wb.funnel_plot(wb.funnel_data(table)), wb.forest_plot(wb.forest_data(table))):
        assert isinstance(fig, Figure)
        fig.canvas.draw()


def test_copyright_and_norms_constants():
    assert "NHS Health Scotland, University of Warwick and University of Edinburgh" in (
        wb.COPYRIGHT)
    assert "2006 (WEMWBS) / 2008 (SWEMWBS), all rights reserved" in wb.COPYRIGHT
    assert {"norm", "scale", "survey", "year", "mean"} <= set(wb.NORMS.columns)
    assert wb.NORMS.set_index("norm").loc["clarke-2011-teenagers-13-16", "mean"] == 48.8
    assert set(wb.NORMS["scale"]) == {"WEMWBS", "SWEMWBS"}
    assert len(wb.SWEMWBS_METRIC) == 29


def test_docstring_examples():
    import doctest

    result = doctest.testmod(wb, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


# --------------------------------------------------------------------------
# Disclosure-control specs (attrs["suppress"])
# --------------------------------------------------------------------------

from .conftest import assert_spec, assert_within_canvas  # noqa: E402


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    from changing_tracks.disclosure import suppress

    return suppress(table, **table.attrs["suppress"])


_CHANGE_SETTINGS = {"confidence", "rc_sd", "rc_reliability", "rc_sem", "rc_threshold",
                    "warwick_points", "selection_cutoff"}


def test_disclosure_specs_name_existing_columns():
    scored = scored_fixture()
    pairs = pairs_fixture()
    change = wb.change_by(pairs)
    assert_spec(wb.attrition(scored))
    assert_spec(wb.completer_comparison(scored), {"confidence"})
    assert_spec(change, _CHANGE_SETTINGS)
    assert_spec(wb.change_by(pairs, scale="SWEMWBS", by=None), _CHANGE_SETTINGS)
    assert_spec(wb.paired_change([1, 2, 3], [2, 4, 5]), {"confidence"})
    assert_spec(wb.funnel_data(change), {"target", "sd_within", "phi", "overdispersion_p",
                                         "inflation"})
    assert_spec(wb.forest_data(change), {"tau2", "q", "q_df", "q_p", "i2", "confidence"})
    p = wb.pair(pairs)
    assert_spec(wb.shrunken_estimates(p), {"group_var", "residual_var", "llf"})
    assert_spec(wb.kruskal_dunn(p), {"df"})
    # Empty results carry the spec too.
    for empty in (wb.funnel_data(change.iloc[[0, -1]]), wb.forest_data(change.iloc[[0, -1]]),
                  wb.kruskal_dunn(p[p["service"] == "A"]), wb.shrunken_estimates(p.iloc[:2])):
        assert "suppress" in empty.attrs
    # Settings and text columns are never counts or statistics.
    spec = change.attrs["suppress"]
    for col in ("scale", "instruments", "confidence", "rc_threshold", "note", "rc_source"):
        assert col not in spec["counts"] and col not in spec["derived"]
    assert spec["derived"]["mean_change"] == "n"
    assert spec["derived"]["pct_deteriorated"] == ["n", "n_deteriorated"]
    assert spec["sums"] == {"n": ["n_improved", "n_no_reliable_change", "n_deteriorated"]}
    assert spec["total"] == {"service": "All services"}
    # The spec survives the usual row filtering (pandas copies attrs).
    assert change[change["service"] == "A"].attrs["suppress"] == spec


def test_change_by_n11_with_three_deteriorated_shows_the_mean_change():
    # 11 paired young people in one service: 3 reliably deteriorated (-4 points), 8 with
    # no reliable change (+1); the threshold is 2.86 SWEMWBS metric points.
    changes = [-4.0] * 3 + [1.0] * 8
    rows = []
    for i, d in enumerate(changes):
        rows += [(f"p{i}", "A", "baseline", 20.0), (f"p{i}", "A", "follow-up", 20.0 + d)]
    df = pd.DataFrame(rows, columns=["participant", "service", "wave", "swemwbs_metric"])
    t = wb.change_by(df)
    a = t.iloc[0]
    assert (a["n"], a["n_improved"], a["n_no_reliable_change"], a["n_deteriorated"]) == (
        11, 0, 8, 3)
    out = _shown(t)
    row = out.iloc[0]
    # The statistics resting on n alone are shown ...
    assert row["n"] == 11
    assert row["mean_change"] == pytest.approx(np.mean(changes))
    for col in ("sd_change", "ci_low", "ci_high", "t", "d_z", "d_av", "mean_baseline"):
        assert row[col] != "c" and row[col] == pytest.approx(a[col])
    # ... the small categories and what rests on them are hidden.
    for col in ("n_deteriorated", "pct_deteriorated", "pct_deteriorated_ci_low",
                "n_no_reliable_change", "pct_no_reliable_change", "n_warwick_deteriorated",
                "pct_warwick_deteriorated"):
        assert row[col] == "c", col
    assert row["n_improved"] == 0 and row["pct_improved"] == pytest.approx(0.0)
    # Without the spec (every statistic on every count) the mean change was hidden.
    from changing_tracks.disclosure import suppress

    assert suppress(t).iloc[0]["mean_change"] == "c"


def test_attrition_and_completers_hide_the_three_lost():
    rows = []
    for i in range(11):
        rows.append((f"p{i}", "A", "baseline", 20.0 + i))
        if i >= 3:  # three lost to follow-up
            rows.append((f"p{i}", "A", "follow-up", 22.0 + i))
    df = pd.DataFrame(rows, columns=["participant", "service", "wave", "swemwbs_metric"])
    a = _shown(wb.attrition(df)).iloc[0]
    assert a["n"] == 11 and a["n_baseline"] == 11
    assert a["n_lost"] == "c" and a["pct_lost"] == "c" and a["n_paired"] == "c"
    c = _shown(wb.completer_comparison(df)).iloc[0]
    assert c["n"] == 11 and c["n_non_completers"] == "c"
    assert c["mean_non_completers"] == "c" and c["difference"] == "c"


def test_funnel_forest_shrunken_kruskal_hide_small_services():
    pairs = wb.pair(pairs_fixture(sizes=(12, 8, 15)))  # B has 8 young people
    change = wb.change_by(pairs)
    for table, col in ((wb.funnel_data(change), "mean_change"), (wb.forest_data(change),
                                                                 "estimate"),
                       (wb.shrunken_estimates(pairs), "estimate")):
        out = _shown(table).set_index("service")
        assert out.loc["B", "n"] == "c" and out.loc["B", col] == "c"
    kd = _shown(wb.kruskal_dunn(pairs))
    ac = kd[(kd["group_a"] == "A") & (kd["group_b"] == "C")].iloc[0]
    assert ac["n"] == 27 and ac["statistic"] != "c"
    ab = kd[(kd["group_a"] == "A") & (kd["group_b"] == "B")].iloc[0]
    assert (ab["n_a"], ab["n_b"], ab["n"], ab["statistic"]) == (12, "c", "c", "c")
    # The pooled change row: B's 8 is hidden, so another service's n is too.
    shown = _shown(change).set_index("service")
    assert shown.loc["B", "n"] == "c" and shown.loc["All services", "n"] == 35
    assert (shown.loc[["A", "C"], "n"] == "c").sum() == 1


@pytest.fixture(scope="module")
def sample_report(sample_dir):
    from changing_tracks.reports import open_report

    return open_report(sample_dir, "2019-20")


def test_publishing_the_sample_wellbeing_tables(sample_report):
    scored = wb.score(sample_report.table("wellbeing"))
    pairs = wb.pair(scored)
    change = wb.change_by(scored)
    tables = [wb.attrition(scored), wb.completer_comparison(scored), change,
              wb.change_by(scored, scale="WEMWBS"), wb.funnel_data(change),
              wb.forest_data(change), wb.shrunken_estimates(pairs), wb.kruskal_dunn(pairs)]
    for table in tables:
        published = sample_report.publish(table)
        assert len(published.table) == len(table)
        assert published.table.attrs["disclosure_warnings"] == []
    one = change[change["service"] == change["service"].iloc[0]]
    assert one.attrs["suppress"] == change.attrs["suppress"]
    sample_report.publish(one)
    # The pooled row shows; some small services are hidden.
    shown = sample_report.publish(change).table.set_index("service")
    assert shown.loc["All services", "n"] != "c" and (shown["n"] == "c").any()


# --------------------------------------------------------------------------
# Equivalence with the loop-based implementation (issue 8: vectorised pairing)
# --------------------------------------------------------------------------

def _equivalence_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / "data" / "equivalence_inputs.py"
    spec = importlib.util.spec_from_file_location("equivalence_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference(name):
    from pathlib import Path

    return pd.read_pickle(Path(__file__).parent / "data" / f"{name}_reference.pkl.gz")


def _assert_same(got, want, key):
    assert got.attrs == want.attrs, key
    pd.testing.assert_frame_equal(got, want, check_exact=True, obj=key)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_results_equal_the_loop_implementation(seed):
    """score, pair, attrition, completer_comparison and change_by give exactly the frames
    the loop-based implementation gave on seeded data with repeats, missing and tied
    dates, undated follow-ups, follow-ups before the baseline, both instruments and
    missing ids (tests/data/wellbeing_reference.pkl.gz, written before vectorising)."""
    import warnings

    raw = _equivalence_module().wellbeing_input(seed)
    ref = _reference("wellbeing")[seed]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for am in (0, 2):
            key = f"score/allow_missing={am}"
            _assert_same(wb.score(raw, allow_missing=am), ref[key], key)
        s = wb.score(raw, allow_missing=1)
        for scale in ("SWEMWBS", "WEMWBS"):
            for keep in ("all", "paired"):
                for br in ("earliest", "latest"):
                    for fr in ("latest", "earliest"):
                        key = f"pair/{scale}/{keep}/{br}/{fr}"
                        _assert_same(wb.pair(s, scale=scale, keep=keep, baseline_rule=br,
                                             follow_up_rule=fr), ref[key], key)
            if seed != 1:  # the group tables only add the (unchanged) per-group statistics
                continue
            for by in ("service", "year", None):
                _assert_same(wb.attrition(s, scale=scale, by=by),
                             ref[f"attrition/{scale}/{by}"], f"attrition/{scale}/{by}")
                _assert_same(wb.completer_comparison(s, scale=scale, by=by),
                             ref[f"completer/{scale}/{by}"], f"completer/{scale}/{by}")
                _assert_same(wb.change_by(s, by=by, scale=scale),
                             ref[f"change_by/{scale}/{by}"], f"change_by/{scale}/{by}")
            _assert_same(wb.change_by(s, scale=scale, baseline_rule="latest",
                                      follow_up_rule="earliest"),
                         ref[f"change_by/{scale}/service/latest"], "change_by latest")


def test_reference_data_cover_the_edge_cases():
    """The equivalence data hold the cases the pairing rules are about (not a tautology)."""
    p = _reference("wellbeing")[1]["pair/SWEMWBS/all/earliest/latest"]
    notes = p["note"]
    assert (notes == "no follow-up dated after the baseline").sum() > 0
    assert (notes == "no scored baseline").sum() > 0 and (notes == "no scored follow-up").sum() > 0
    assert notes.str.startswith("repeats").sum() > 10
    assert p["service"].isna().any() and p["year"].isna().any()
    assert p["baseline_date"].isna().any() and p["follow_up_date"].isna().any()
