"""Tests for changing_tracks.outcomes: hand-computed distributions, change, coverage, figures."""

from __future__ import annotations

import doctest

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from changing_tracks import outcomes  # noqa: E402

INDICATORS = pd.DataFrame({
    "indicator": ["P1", "P2", "S1", "M1"],
    "domain": ["personal", "personal", "social", "musical"],
    "text": ["Confidence", "Resilience", "Works with others", "Plays in time"],
})

# (service, participant, indicator, wave, rating, rater). Participant "a" exists in two
# services: they are different young people.
ROWS = [
    ("h", "a", "P1", "baseline", 2, "t1"), ("h", "a", "P1", "follow-up", 4, "t1"),
    ("h", "a", "P2", "baseline", 3, "t1"), ("h", "a", "P2", "interim", 3, "t1"),
    ("h", "a", "S1", "baseline", 4, "t1"), ("h", "a", "S1", "baseline", 2, "t2"),
    ("h", "a", "S1", "follow-up", 3, "t1"),
    ("h", "a", "M1", "baseline", 2, "t1"), ("h", "a", "M1", "follow-up", 1, "t1"),
    ("h", "b", "P1", "baseline", 1, "t1"), ("h", "b", "P1", "interim", 2, "t1"),
    ("h", "b", "P1", "follow-up", 5, "t1"),
    ("h", "b", "P2", "baseline", 4, "t1"),
    ("h", "c", "P1", "baseline", 3, "t1"), ("h", "c", "P1", "follow-up", 2, "t1"),
    ("e", "a", "P1", "baseline", 5, "t9"), ("e", "a", "P1", "follow-up", 5, "t9"),
    ("e", "a", "S1", "baseline", 2, "t9"), ("e", "a", "S1", "follow-up", 4, "t9"),
]


def make_ratings() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["service", "participant", "indicator", "wave", "rating",
                                        "rater"])
    for col in ("service", "participant", "indicator", "wave", "rater"):
        frame[col] = frame[col].astype("str")
    frame["rating"] = pd.array(frame["rating"], dtype="Int64")
    frame["year"] = pd.Series(["2019-20"] * len(frame), dtype="str")
    frame["date"] = pd.NaT
    frame["source_file"] = "outcome_ratings.csv"
    frame["source_row"] = np.arange(len(frame)) + 2
    return frame


@pytest.fixture
def ratings():
    return make_ratings()


from .conftest import row_where as _row  # noqa: E402


# --------------------------------------------------------------------------
# distribution
# --------------------------------------------------------------------------

def test_distribution_default_groups(ratings):
    d = outcomes.distribution(ratings, INDICATORS)
    assert list(d.columns[:4]) == ["domain", "indicator", "service", "wave"]
    assert "participant" not in d.columns
    # personal P1 at h baseline: a 2, b 1, c 3
    row = _row(d, indicator="P1", service="h", wave="baseline")
    assert (row["n"], row["n_ratings"]) == (3, 3)
    assert [row[f"n_{k}"] for k in range(1, 6)] == [1, 1, 1, 0, 0]
    np.testing.assert_allclose([row[f"pct_{k}"] for k in range(1, 6)],
                               [100 / 3, 100 / 3, 100 / 3, 0, 0])
    assert (row["median"], row["q1"], row["q3"], row["iqr"]) == (2.0, 1.5, 2.5, 1.0)
    assert (row["n_top2"], row["pct_top2"]) == (0, 0.0)
    # rows ordered by domain (personal, social, musical) then wave order
    assert list(dict.fromkeys(d["domain"])) == ["personal", "social", "musical"]
    p1h = d[(d.indicator == "P1") & (d.service == "h")]
    assert list(p1h["wave"]) == ["baseline", "interim", "follow-up"]


def test_distribution_by_domain_hand_values(ratings):
    d = outcomes.distribution(ratings, INDICATORS, by=["domain"])
    personal = _row(d, domain="personal")
    # ratings 2,4,3,3,1,2,5,4,3,2,5,5 from four young people (h-a, h-b, h-c, e-a)
    assert (personal["n"], personal["n_ratings"]) == (4, 12)
    assert [personal[f"n_{k}"] for k in range(1, 6)] == [1, 3, 3, 2, 3]
    assert personal["median"] == 3.0
    assert personal["q1"] == pytest.approx(2.0) and personal["q3"] == pytest.approx(4.25)
    assert personal["pct_top2"] == pytest.approx(100 * 5 / 12)
    social = _row(d, domain="social")     # 4, 2, 3, 2, 4: two raters' ratings both count
    assert (social["n"], social["n_ratings"], social["median"]) == (2, 5, 3.0)
    cat = outcomes.distribution(ratings, INDICATORS, by=["domain"],
                                quantile_method="inverted_cdf")
    assert _row(cat, domain="personal")["q3"] == 4.0
    overall = outcomes.distribution(ratings, INDICATORS, by=())
    assert len(overall) == 1 and overall.iloc[0]["n"] == 4 and overall.iloc[0]["n_ratings"] == 19
    assert d.attrs["settings"]["derived_from"]["pct_top2"] == "n_ratings"


def test_distribution_errors_and_empty(ratings):
    with pytest.raises(ValueError, match="by must be"):
        outcomes.distribution(ratings, INDICATORS, by=["participant"])
    with pytest.raises(ValueError, match="quantile_method"):
        outcomes.distribution(ratings, INDICATORS, quantile_method="nope")
    bad = ratings.astype({"rating": object})
    bad.loc[0, "rating"] = 6
    with pytest.raises(ValueError, match="1-5"):
        outcomes.distribution(bad, INDICATORS)
    bad = ratings.copy()
    bad.loc[0, "wave"] = "midway"
    with pytest.raises(ValueError, match="wave must be one of"):
        outcomes.distribution(bad, INDICATORS)
    bad = ratings.copy()
    bad.loc[0, "indicator"] = "X9"
    with pytest.raises(ValueError, match="X9"):
        outcomes.distribution(bad, INDICATORS)
    with pytest.raises(ValueError, match="domain must be one of"):
        outcomes.distribution(ratings, INDICATORS.assign(domain="emotional"))
    empty = outcomes.distribution(ratings.iloc[:0], INDICATORS)
    assert empty.empty and "pct_top2" in empty.columns


# --------------------------------------------------------------------------
# change
# --------------------------------------------------------------------------

def test_change_per_participant(ratings):
    c = outcomes.change(ratings, INDICATORS)
    hp = _row(c, service="h", domain="personal")
    # a: P1 +2, P2 0 (interim is last) -> mean +1; b: P1 +4 (P2 baseline only); c: -1
    assert (hp["n"], hp["n_pairs"], hp["n_not_paired"], hp["n_compared"]) == (3, 4, 1, 3)
    assert (hp["n_improved"], hp["n_same"], hp["n_declined"]) == (2, 0, 1)
    assert hp["median_change"] == 1.0
    assert hp["p_sign"] == pytest.approx(1.0)
    # social at h: two tutors at baseline (4, 2) -> median 3; follow-up 3 -> same
    hs = _row(c, service="h", domain="social")
    assert (hs["n_same"], hs["n_improved"]) == (1, 0) and pd.isna(hs["p_sign"])
    assert "no change" in hs["note"]
    # pooled: e's participant "a" is a different young person from h's "a"
    pp = _row(c, service=outcomes.POOLED, domain="personal")
    assert (pp["n"], pp["n_improved"], pp["n_same"], pp["n_declined"]) == (4, 2, 1, 1)
    assert pp["pct_improved"] == pytest.approx(50.0)
    ps = _row(c, service=outcomes.POOLED, domain="social")
    assert (ps["n"], ps["n_improved"], ps["n_same"]) == (2, 1, 1)
    assert list(c["service"])[-3:] == [outcomes.POOLED] * 3
    assert (c["unit"] == "participant").all()


def test_change_per_pair_and_other_groupings(ratings):
    c = outcomes.change(ratings, INDICATORS, unit="pair", pooled=False)
    hp = _row(c, service="h", domain="personal")
    assert (hp["n_compared"], hp["n_improved"], hp["n_same"], hp["n_declined"]) == (4, 2, 1, 1)
    assert hp["n"] == 3 and outcomes.POOLED not in set(c["service"])
    by_ind = outcomes.change(ratings, INDICATORS, by=["indicator"])
    p1 = _row(by_ind, indicator="P1")
    assert (p1["n"], p1["n_improved"], p1["n_same"], p1["n_declined"]) == (4, 2, 1, 1)
    p2 = _row(by_ind, indicator="P2")
    assert (p2["n_pairs"], p2["n_not_paired"]) == (1, 1)


def test_change_sign_test_reference_value():
    # seven young people all rated higher at follow-up: p = 2 * 0.5**7
    frame = pd.DataFrame({"service": "s", "participant": [f"p{i}" for i in range(7)] * 2,
                          "indicator": "M1", "wave": ["baseline"] * 7 + ["follow-up"] * 7,
                          "rating": [2] * 7 + [3] * 7})
    c = outcomes.change(frame, INDICATORS)
    assert len(c) == 1    # one service: no pooled row
    assert c.iloc[0]["p_sign"] == pytest.approx(2 * 0.5 ** 7, rel=1e-12)
    only_baseline = frame[frame.wave == "baseline"]
    c = outcomes.change(only_baseline, INDICATORS)
    assert c.iloc[0]["n"] == 0 and c.iloc[0]["n_not_paired"] == 7
    assert pd.isna(c.iloc[0]["pct_improved"]) and "two waves" in c.iloc[0]["note"]
    with pytest.raises(ValueError, match="unit"):
        outcomes.change(frame, INDICATORS, unit="rating")
    with pytest.raises(ValueError, match="by must be"):
        outcomes.change(frame, INDICATORS, by=["wave"])


# --------------------------------------------------------------------------
# coverage
# --------------------------------------------------------------------------

def test_coverage_without_participants(ratings):
    cov = outcomes.coverage(ratings, INDICATORS)
    assert len(cov) == 6
    h = cov[cov.service == "h"].set_index("domain")
    assert list(h["n_participants"]) == [3, 1, 1]
    assert list(h["n_ratings"]) == [10, 3, 2]
    assert list(h["gap"]) == [False, True, True]       # 1 < 0.5 x 3
    assert h.loc["social", "pct_of_best"] == pytest.approx(100 / 3)
    assert (h.loc["personal", "n_indicators_rated"], h.loc["personal", "n_indicators"]) == (2, 2)
    e = cov[cov.service == "e"].set_index("domain")
    assert list(e["gap"]) == [False, False, True]
    assert e.loc["musical", "note"] == "no ratings" and e.loc["musical", "n_ratings"] == 0
    looser = outcomes.coverage(ratings, INDICATORS, threshold=0.3)
    assert list(looser[looser.service == "h"]["gap"]) == [False, False, False]
    with pytest.raises(ValueError, match="threshold"):
        outcomes.coverage(ratings, INDICATORS, threshold=0)


def test_coverage_with_participants_table(ratings):
    people = pd.DataFrame({"participant": ["a", "b", "c", "d", "a", "p"],
                           "service": ["h", "h", "h", "h", "e", "x"],
                           "year": "2019-20"})
    cov = outcomes.coverage(ratings, INDICATORS, people)
    h = cov[cov.service == "h"].set_index("domain")
    assert (h["n_participants_total"] == 4).all()
    assert h.loc["personal", "pct_participants"] == pytest.approx(75.0)
    x = cov[cov.service == "x"]
    assert len(x) == 3 and x["gap"].all() and (x["n_participants_total"] == 1).all()
    by_wave = outcomes.coverage(ratings, INDICATORS, people, by=["service", "wave"])
    hb = by_wave[(by_wave.service == "h") & (by_wave.wave == "interim")].set_index("domain")
    assert list(hb["n_participants"]) == [2, 0, 0] and (hb["n_participants_total"] == 4).all()
    with pytest.raises(ValueError, match="year"):
        outcomes.coverage(ratings, INDICATORS, people.drop(columns="year"), by=["year"])


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------

def test_plot_diverging_geometry(ratings):
    d = outcomes.distribution(ratings, INDICATORS, by=["domain"])
    fig = outcomes.plot_diverging(d)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    first = ax.patches[0]                       # rating 1, personal
    p = _row(d, domain="personal")
    assert first.get_x() == pytest.approx(-(p["pct_1"] + p["pct_2"] + p["pct_3"] / 2))
    neutral = ax.patches[2 * len(d)]            # rating 3, personal: centred on 0
    assert neutral.get_x() + neutral.get_width() / 2 == pytest.approx(0)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "personal (n=12)"
    assert isinstance(outcomes.plot_diverging(d.iloc[:0]), Figure)


def test_plot_change(ratings):
    c = outcomes.change(ratings, INDICATORS)
    fig = outcomes.plot_change(c)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    k = len(c)
    improved = [p.get_width() for p in ax.patches[2 * k:]]
    np.testing.assert_allclose(improved, np.nan_to_num(c["pct_improved"].to_numpy(float)))
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "e · personal (n=1)"


def test_docstring_examples():
    result = doctest.testmod(outcomes, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------
# Disclosure-control specs (attrs["suppress"])
# --------------------------------------------------------------------------

from .conftest import assert_spec  # noqa: E402


def _shown(table):
    from changing_tracks.disclosure import suppress

    return suppress(table, **table.attrs["suppress"])


def test_disclosure_specs_name_existing_columns(ratings):
    for by in (("domain", "indicator", "service", "wave"), ("domain",), ("service", "rater")):
        spec = assert_spec(outcomes.distribution(ratings, INDICATORS, by=by))
        assert ("groups" in spec) == (by[0] == "domain" and "service" in by)
    for by, unit in ((("service", "domain"), "participant"), (("domain",), "pair"),
                     (("service", "indicator", "year"), "pair")):
        spec = assert_spec(outcomes.change(ratings, INDICATORS, by=by, unit=unit))
    spec = assert_spec(outcomes.change(ratings, INDICATORS))
    assert spec["derived"]["pct_improved"] == ["n", "n_compared", "n_improved"]
    assert spec["sums"]["n_compared"] == ["n_improved", "n_same", "n_declined"]
    assert spec["total"] == {"service": "All services"} and spec["groups"] == [["domain"]]
    cov = outcomes.coverage(ratings, INDICATORS)
    spec = assert_spec(cov, {"n_indicators_rated", "n_indicators"})
    assert "n_indicators" not in spec["counts"]  # indicators, not people
    # empty tables carry the spec; row filtering keeps it
    assert "suppress" in outcomes.change(ratings.iloc[0:0], INDICATORS).attrs
    assert cov[cov["service"] == "h"].attrs["suppress"] == cov.attrs["suppress"]


def _eleven(changes, service="h", first="p"):
    """Eleven (or len(changes)) young people rated on P1 at baseline 3 and at follow-up."""
    rows = []
    for i, d in enumerate(changes):
        rows += [(service, f"{first}{i}", "P1", "baseline", 3, "t1"),
                 (service, f"{first}{i}", "P1", "follow-up", 3 + d, "t1")]
    frame = pd.DataFrame(rows, columns=["service", "participant", "indicator", "wave", "rating",
                                        "rater"])
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def test_change_n11_with_three_declined_shows_what_rests_on_n():
    r = _eleven([1] * 8 + [-1] * 3)
    t = outcomes.change(r, INDICATORS)
    assert t[["n", "n_improved", "n_same", "n_declined"]].iloc[0].tolist() == [11, 8, 0, 3]
    row = _shown(t).iloc[0]
    assert row["n"] == 11 and row["n_compared"] == 11 and row["median_change"] == 1.0
    for col in ("n_declined", "pct_declined", "n_improved", "pct_improved", "p_sign"):
        assert row[col] == "c", col
    assert row["n_same"] == 0
    # distribution at follow-up: 8 rated 4, 3 rated 2; the median rests on n only
    d = outcomes.distribution(r, INDICATORS)
    fu = _shown(d[d["wave"] == "follow-up"]).iloc[0]
    assert (fu["n"], fu["n_ratings"], fu["median"]) == (11, 11, 4.0)
    assert fu["n_2"] == "c" and fu["pct_2"] == "c" and fu["pct_top2"] == "c"
    assert fu["n_1"] == 0 and fu["pct_1"] == 0.0


def test_change_protects_a_small_service_against_the_pooled_row():
    r = pd.concat([_eleven([1] * 20, "e", "e"), _eleven([1] * 8, "h", "h"),
                   _eleven([1] * 15, "w", "w")], ignore_index=True)
    out = _shown(outcomes.change(r, INDICATORS)).set_index("service")
    assert out.loc["All services", "n"] == 43 and out.loc["h", "n"] == "c"
    # 43 - 20 - 15 would give h's 8 away: the next smallest service is hidden too.
    assert out.loc["w", "n"] == "c" and out.loc["e", "n"] == 20


def test_publishing_the_sample_outcome_tables(sample_dir):
    from changing_tracks.reports import open_report

    report = open_report(sample_dir, "2019-20")
    r, ind = report.table("outcome_ratings"), report.table("outcome_indicators")
    tables = [outcomes.distribution(r, ind, by=("domain", "service", "wave")),
              outcomes.distribution(r, ind, by=("domain", "wave")),
              outcomes.change(r, ind), outcomes.change(r, ind, by=("domain",)),
              outcomes.coverage(r, ind, report.table("participants"))]
    for table in tables:
        published = report.publish(table)
        assert len(published.table) == len(table)
        assert published.table.attrs["disclosure_warnings"] == []
    change = tables[2]
    one = change[change["service"] == "essex"]
    assert one.attrs["suppress"] == change.attrs["suppress"]
    report.publish(one)


def test_as_text_fast_path_equals_value_by_value():
    """Text columns without missing values skip the per-value conversion; same result."""
    from changing_tracks.outcomes import _as_text

    def by_value(series):
        return series.map(lambda v: None if pd.isna(v) else str(v)).astype(object)

    for series in (pd.Series(["a", "b"], dtype="str", name="x", index=[3, 1]),
                   pd.Series(["a", "b"], dtype="string"),
                   pd.Series(["a", None], dtype="str"), pd.Series(["a", pd.NA], dtype="string"),
                   pd.Series(["a", "c", "a"], dtype="category"),
                   pd.Series([], dtype="str"), pd.Series([1, None], dtype="Int64")):
        fast, slow = _as_text(series), by_value(series)
        pd.testing.assert_series_equal(fast, slow)
        assert [type(v) for v in fast] == [type(v) for v in slow]
