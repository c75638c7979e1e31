"""Tests for changing_tracks.audit: hand-computed collation, scores, change, completion,
priorities, the action-plan export and the figures."""

from __future__ import annotations

import doctest
from datetime import date

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from changing_tracks import audit  # noqa: E402

NA = None

# Six statements, two per section.
STATEMENTS = pd.DataFrame({
    "statement": ["1.01", "1.02", "2.01", "2.02", "3.01", "3.02"],
    "section": [1, 1, 2, 2, 3, 3],
    "text": [f"Statement text {k}" for k in range(6)],
})

# rater -> ratings of 1.01 … 3.02; "NA" = not applicable, None = left blank.
ALPHA_BASELINE = {
    "a": [1, 2, 3, 1, 2, "NA"],
    "b": [3, 2, 3, 2, "NA", "NA"],
    "c": [2, 3, 3, None, "NA", "NA"],
}
ALPHA_FOLLOW_UP = {
    "a": [2, 2, 3, 1, 3, "NA"],
    "b": [3, 2, 2, 3, 3, "NA"],
}
BETA_BASELINE = {"x": [1, 1, 1, 2, 1, 1]}          # a service with one rater
BETA_FOLLOW_UP = {"x": [2, 2, 2, 3, 2, 3]}
GAMMA_BASELINE = {"g": [None, 3, 3, 3, 3, 3]}      # no follow-up at all

DATES = {
    ("alpha", "baseline", "a"): date(2019, 7, 10), ("alpha", "baseline", "b"): date(2019, 7, 12),
    ("alpha", "baseline", "c"): date(2019, 7, 15),
    ("alpha", "follow-up", "a"): date(2020, 7, 20), ("alpha", "follow-up", "b"): date(2020, 8, 15),
    ("beta", "baseline", "x"): date(2019, 7, 1), ("beta", "follow-up", "x"): date(2020, 7, 1),
    ("gamma", "baseline", "g"): date(2019, 6, 30),
}


def _rows(service, wave, raters):
    rows = []
    for rater, values in raters.items():
        for ref, value in zip(STATEMENTS["statement"], values):
            if value == "NA":
                rating, status = NA, "not applicable"
            elif value is None:
                rating, status = NA, "not rated"
            else:
                rating, status = value, "rated"
            rows.append({"service": service, "wave": wave, "rater": rater, "statement": ref,
                         "rating": rating, "status": status,
                         "date": pd.Timestamp(DATES[(service, wave, rater)])})
    return rows


def make_ratings() -> pd.DataFrame:
    rows = (_rows("alpha", "baseline", ALPHA_BASELINE) + _rows("alpha", "follow-up", ALPHA_FOLLOW_UP)
            + _rows("beta", "baseline", BETA_BASELINE) + _rows("beta", "follow-up", BETA_FOLLOW_UP)
            + _rows("gamma", "baseline", GAMMA_BASELINE))
    frame = pd.DataFrame(rows)
    # As loaded: string ids, Int64 ratings, plus provenance columns to be ignored.
    for col in ("service", "wave", "rater", "statement", "status"):
        frame[col] = frame[col].astype("str")
    frame["rating"] = pd.array(frame["rating"], dtype="Int64")
    frame["comment"] = pd.Series([pd.NA] * len(frame), dtype="str")
    frame["source_file"] = "audit/x.xlsx"
    frame["source_row"] = np.arange(len(frame)) + 5
    return frame


@pytest.fixture
def ratings():
    return make_ratings()


from .conftest import row_where as _row  # noqa: E402


# --------------------------------------------------------------------------
# collate
# --------------------------------------------------------------------------

def test_collate_median_spread_and_statuses(ratings):
    out = audit.collate(ratings, statements=STATEMENTS)
    assert list(out.columns) == audit._COLLATE_COLUMNS
    assert len(out) == 6 * 5  # every statement at 5 service-waves
    base = out[(out.service == "alpha") & (out.wave == "baseline")].set_index("statement")
    # 1.01: 1, 3, 2 -> median 2, spread 2 -> disagreement
    assert base.loc["1.01", "rating"] == 2 and base.loc["1.01", "spread"] == 2
    assert bool(base.loc["1.01", "disagree"])
    # 1.02: 2, 2, 3 -> 2, spread 1, no disagreement
    assert base.loc["1.02", "rating"] == 2 and not base.loc["1.02", "disagree"]
    # 2.02: 1, 2 and one blank -> median of two = 1.5, kept
    assert base.loc["2.02", "rating"] == 1.5
    assert (base.loc["2.02", "n_rated"], base.loc["2.02", "n_not_rated"]) == (2, 1)
    assert base.loc["2.02", "n"] == 2 and base.loc["2.02", "n_raters"] == 3
    # 3.01: rated 2 by one, N/A by two -> not applicable by majority
    assert base.loc["3.01", "status"] == "not applicable" and pd.isna(base.loc["3.01", "rating"])
    assert bool(base.loc["3.01", "split_na"]) and base.loc["3.01", "n"] == 0
    # 3.02: N/A by every rater
    assert base.loc["3.02", "status"] == "not applicable"
    assert base.loc["3.02", "n_not_applicable"] == 3 and pd.isna(base.loc["3.02", "spread"])
    assert list(base["section"]) == [1, 1, 2, 2, 3, 3]
    # One rater: spread 0, never a disagreement.
    beta = out[(out.service == "beta") & (out.wave == "baseline")]
    assert (beta["spread"] == 0).all() and not beta["disagree"].any()
    assert list(beta["rating"]) == [1, 1, 1, 2, 1, 1] and (beta["n"] == 1).all()
    # Nobody rated gamma 1.01.
    g = _row(out, service="gamma", statement="1.01")
    assert g["status"] == "not rated" and pd.isna(g["rating"]) and g["n_raters"] == 1
    assert out.attrs["settings"]["method"] == "median" and (out["method"] == "median").all()


def test_collate_halves_rounding(ratings):
    up = audit.collate(ratings, halves="up")
    down = audit.collate(ratings, halves="down")
    assert _row(up, service="alpha", wave="baseline", statement="2.02")["rating"] == 2
    assert _row(down, service="alpha", wave="baseline", statement="2.02")["rating"] == 1
    # follow-up 1.01: 2 and 3 -> 2.5 -> 3 up, 2 down; whole medians unchanged
    assert _row(up, service="alpha", wave="follow-up", statement="1.01")["rating"] == 3
    assert _row(down, service="alpha", wave="follow-up", statement="1.01")["rating"] == 2
    assert _row(up, service="alpha", wave="baseline", statement="1.02")["rating"] == 2


@pytest.mark.parametrize("method, expected", [
    # alpha baseline 1.01 (1,3,2), 1.02 (2,2,3), 2.02 (1,2)
    ("mean", [2.0, 7 / 3, 1.5]),
    ("min", [1.0, 2.0, 1.0]),
    ("mode", [1.0, 2.0, 1.0]),     # ties -> lowest tied rating
    ("median", [2.0, 2.0, 1.5]),
])
def test_collate_methods(ratings, method, expected):
    out = audit.collate(ratings, method=method)
    got = [_row(out, service="alpha", wave="baseline", statement=s)["rating"]
           for s in ("1.01", "1.02", "2.02")]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert (out["method"] == method).all()


def test_collate_not_applicable_rules(ratings):
    def status(rule, ref):
        out = audit.collate(ratings, not_applicable=rule)
        return _row(out, service="alpha", wave="baseline", statement=ref)

    assert status("majority", "3.01")["status"] == "not applicable"
    row = status("all", "3.01")
    assert row["status"] == "rated" and row["rating"] == 2 and row["n"] == 1
    assert status("any", "3.01")["status"] == "not applicable"
    assert status("all", "3.02")["status"] == "not applicable"
    # A tie between one rating and one N/A stays applicable under "majority".
    tie = pd.DataFrame({"service": "s", "wave": "baseline", "rater": ["a", "b"],
                        "statement": "1.01", "rating": pd.array([2, None], dtype="Int64"),
                        "status": ["rated", "not applicable"]})
    assert audit.collate(tie).iloc[0]["status"] == "rated"
    assert audit.collate(tie, not_applicable="any").iloc[0]["status"] == "not applicable"


def test_collate_without_status_column_and_empty():
    frame = pd.DataFrame({"service": ["s", "s"], "wave": "follow-up", "rater": ["a", "b"],
                          "statement": "2.01", "rating": [3.0, np.nan]})
    out = audit.collate(frame)
    assert out.iloc[0]["status"] == "rated" and out.iloc[0]["n_not_rated"] == 1
    empty = audit.collate(frame.iloc[:0])
    assert empty.empty and list(empty.columns) == audit._COLLATE_COLUMNS


@pytest.mark.parametrize("change, message", [
    ({"rating": 4}, "1, 2 or 3"),
    ({"wave": "midpoint"}, "wave must be one of"),
    ({"status": "maybe"}, "status must be one of"),
    ({"rating": None, "status": "rated"}, "no rating"),
])
def test_collate_rejects_bad_values(ratings, change, message):
    bad = ratings.astype({"rating": object, "wave": object, "status": object})
    for col, value in change.items():
        bad.loc[0, col] = value
    with pytest.raises(ValueError, match=message):
        audit.collate(bad)


def test_collate_rejects_bad_arguments_and_duplicates(ratings):
    with pytest.raises(ValueError, match="method must be one of"):
        audit.collate(ratings, method="average")
    with pytest.raises(ValueError, match="halves"):
        audit.collate(ratings, halves="even")
    with pytest.raises(ValueError, match="not_applicable"):
        audit.collate(ratings, not_applicable="some")
    with pytest.raises(ValueError, match="repeat"):
        audit.collate(pd.concat([ratings, ratings.iloc[:1]]))
    with pytest.raises(ValueError, match="missing"):
        audit.collate(ratings.drop(columns="rater"))
    unknown = ratings.copy()
    unknown.loc[0, "statement"] = "9.99"
    with pytest.raises(ValueError, match="9.99"):
        audit.service_scores(unknown, STATEMENTS)


# --------------------------------------------------------------------------
# service_scores
# --------------------------------------------------------------------------

def test_service_scores_hand_values(ratings):
    s = audit.service_scores(ratings, STATEMENTS)
    assert list(s.columns) == audit._SCORE_COLUMNS
    assert len(s) == 3 * 2 * 4   # every service x both waves x (3 sections + Total)
    # alpha baseline: sec1 2+2=4/6; sec2 3+1.5=4.5/6; sec3 all N/A; total 8.5/12 (max 18)
    expected = {"1": (4.0, 6, 6, 100 * 4 / 6), "2": (4.5, 6, 6, 75.0),
                "3": (np.nan, 6, 0, np.nan), "Total": (8.5, 18, 12, 100 * 8.5 / 12)}
    for section, (score, mx, applicable, pct) in expected.items():
        row = _row(s, service="alpha", wave="baseline", section=section)
        np.testing.assert_allclose([row["score"], row["pct"]], [score, pct], atol=1e-9)
        assert (row["max_possible"], row["max_applicable"]) == (mx, applicable)
    total = _row(s, service="alpha", wave="baseline", section="Total")
    assert (total["n_rated"], total["n_not_rated"], total["n_not_applicable"]) == (4, 0, 2)
    assert total["n_raters"] == 3 and total["n"] == 4
    assert "not applicable" in _row(s, service="alpha", wave="baseline", section="3")["note"]
    # alpha follow-up: 2.5+2 / 2.5+2 / 3 (3.02 N/A) -> 12 of 15 = 80%
    fu = _row(s, service="alpha", wave="follow-up", section="Total")
    assert (fu["score"], fu["max_applicable"], fu["n_raters"]) == (12.0, 15, 2)
    assert fu["pct"] == pytest.approx(80.0, abs=1e-9)
    # gamma baseline: 1.01 nobody rated -> counts 0, stays in the denominator
    g = _row(s, service="gamma", wave="baseline", section="Total")
    assert (g["score"], g["max_applicable"], g["n_not_rated"]) == (15.0, 18, 1)
    assert g["pct"] == pytest.approx(100 * 15 / 18) and g["pct_rated"] == pytest.approx(100.0)
    assert "not rated" in g["note"]
    # gamma follow-up: a wave with no ratings is reported, not dropped
    gf = _row(s, service="gamma", wave="follow-up", section="Total")
    assert pd.isna(gf["score"]) and pd.isna(gf["pct"]) and gf["n_raters"] == 0
    assert gf["note"] == "no ratings at this wave" and gf["n_not_rated"] == 6


def test_service_scores_full_tool_is_out_of_183():
    refs = [f"{s}.{i:02d}" for s, k in ((1, 20), (2, 21), (3, 20)) for i in range(1, k + 1)]
    statements = pd.DataFrame({"statement": refs, "section": [int(r[0]) for r in refs],
                               "text": refs})
    ratings = pd.DataFrame({"service": "s", "wave": "baseline", "rater": "r",
                            "statement": refs, "rating": [2] * 60 + [None],
                            "status": ["rated"] * 60 + ["not applicable"]})
    total = _row(audit.service_scores(ratings, statements), wave="baseline", section="Total")
    assert (total["max_possible"], total["max_applicable"], total["score"]) == (183, 180, 120)
    assert total["pct"] == pytest.approx(100 * 120 / 180)


def test_service_scores_options_change_the_result(ratings):
    up = audit.service_scores(ratings, STATEMENTS, halves="up")
    assert _row(up, service="alpha", wave="baseline", section="Total")["score"] == 9.0
    every = audit.service_scores(ratings, STATEMENTS, not_applicable="all")
    row = _row(every, service="alpha", wave="baseline", section="Total")
    assert (row["score"], row["max_applicable"]) == (10.5, 15)
    assert row["pct"] == pytest.approx(70.0)
    assert every.attrs["settings"]["not_applicable"] == "all"


def test_service_scores_follow_up_rows_all_blank():
    statements = STATEMENTS.iloc[:2]
    frame = pd.DataFrame({"service": "s", "wave": ["baseline"] * 2 + ["follow-up"] * 2,
                          "rater": "r", "statement": ["1.01", "1.02"] * 2,
                          "rating": pd.array([2, 3, None, None], dtype="Int64")})
    s = audit.service_scores(frame, statements)
    fu = _row(s, wave="follow-up", section="Total")
    assert pd.isna(fu["score"]) and fu["n_raters"] == 0 and fu["note"] == "no ratings at this wave"
    comp = audit.completion(frame)
    assert comp.iloc[0]["status"] == "not completed"


# --------------------------------------------------------------------------
# change
# --------------------------------------------------------------------------

def test_statement_change(ratings):
    sc = audit.statement_change(ratings, STATEMENTS)
    alpha = sc[sc.service == "alpha"].set_index("statement")
    assert list(alpha["direction"][:4]) == ["improved", "same", "declined", "improved"]
    assert alpha["direction"][4:].isna().all()
    assert alpha.loc["2.02", "difference"] == 0.5
    assert alpha.loc["3.01", "status_baseline"] == "not applicable"
    assert alpha.loc["3.01", "status_follow_up"] == "rated"


def test_change_hand_values(ratings):
    ch = audit.change(ratings, STATEMENTS)
    assert list(ch.columns) == audit._CHANGE_COLUMNS
    t = _row(ch, service="alpha", section="Total")
    assert (t["score_baseline"], t["score_follow_up"], t["change_points"]) == (8.5, 12.0, 3.5)
    assert t["change_pct"] == pytest.approx(80 - 100 * 8.5 / 12)
    assert (t["n_paired"], t["n_improved"], t["n_same"], t["n_declined"]) == (4, 2, 1, 1)
    assert t["p_sign"] == pytest.approx(1.0)              # binomial 2 of 3
    assert "applicable maximum differs" in t["note"]
    s1 = _row(ch, service="alpha", section="1")
    assert (s1["change_points"], s1["n_improved"], s1["n_same"]) == (0.5, 1, 1)
    s3 = _row(ch, service="alpha", section="3")
    assert pd.isna(s3["change_points"]) and s3["n_paired"] == 0
    assert "baseline: every statement not applicable" in s3["note"]
    # beta (one rater): every statement up -> exact sign test p = 2 * 0.5**6
    b = _row(ch, service="beta", section="Total")
    assert (b["n_improved"], b["n_declined"], b["change_points"]) == (6, 0, 7.0)
    assert b["p_sign"] == pytest.approx(2 * 0.5 ** 6, rel=1e-12)
    assert b["change_pct"] == pytest.approx(100 * 14 / 18 - 100 * 7 / 18)
    # gamma: no follow-up -> missing change with a note, no exception
    g = _row(ch, service="gamma", section="Total")
    assert pd.isna(g["change_points"]) and pd.isna(g["p_sign"]) and g["n"] == 0
    assert "follow-up: no ratings at this wave" in g["note"]


# --------------------------------------------------------------------------
# completion
# --------------------------------------------------------------------------

def test_completion_default_deadlines(ratings):
    c = audit.completion(ratings).set_index("service")
    assert c.loc["alpha", "baseline_completed"] == pd.Timestamp(2019, 7, 15)
    assert c.loc["alpha", "follow_up_completed"] == pd.Timestamp(2020, 8, 15)
    assert c.loc["alpha", "status"] == "extended deadline"
    assert c.loc["beta", "status"] == "on time"
    assert c.loc["gamma", "status"] == "not completed"
    assert pd.isna(c.loc["gamma", "follow_up_completed"])
    assert (c.loc["alpha", "n_raters_baseline"], c.loc["alpha", "n_raters_follow_up"]) == (3, 2)
    assert c.loc["alpha", "raters"] == "a; b; c" and c.loc["alpha", "n"] == 3
    assert c.loc["alpha", "deadline"] == pd.Timestamp(2020, 9, 30)


def test_completion_extension_for_some_services_only(ratings):
    c = audit.completion(ratings, extended_services=["beta"]).set_index("service")
    assert c.loc["alpha", "status"] == "late"
    assert c.loc["alpha", "deadline"] == pd.Timestamp(2020, 7, 31)
    assert c.loc["beta", "deadline"] == pd.Timestamp(2020, 9, 30)
    c = audit.completion(ratings, deadline=date(2020, 6, 30), extended_deadline=None)
    assert list(c["status"]) == ["late", "late", "not completed"]
    no_dates = audit.completion(ratings.drop(columns="date")).set_index("service")
    assert no_dates.loc["beta", "status"] == "date not recorded"
    with pytest.raises(ValueError, match="before deadline"):
        audit.completion(ratings, extended_deadline=date(2020, 1, 1))
    with pytest.raises(ValueError, match="waves"):
        audit.completion(ratings, waves=("baseline", "interim"))


# --------------------------------------------------------------------------
# priorities, shared gaps, export
# --------------------------------------------------------------------------

def test_priorities_latest_wave_with_tie_breaks(ratings):
    p = audit.priorities(ratings, STATEMENTS, n=3)
    alpha = p[p.service == "alpha"]
    # follow-up: 2.02 = 2 (spread 2) before 1.02 = 2 (spread 0), then 1.01 = 2.5 (ref order)
    assert list(alpha["statement"]) == ["2.02", "1.02", "1.01"]
    assert list(alpha["rank"]) == [1, 2, 3] and (alpha["wave"] == "follow-up").all()
    assert list(alpha["rating_label"]) == ["Partially met", "Partially met",
                                           "between partially met and fully met"]
    beta = p[p.service == "beta"]
    assert list(beta["statement"]) == ["1.01", "1.02", "2.01"]
    assert "gamma" not in set(p["service"])         # everything rated is fully met
    base = audit.priorities(ratings, STATEMENTS, wave="baseline", n=None)
    g = base[base.service == "gamma"]
    assert g.empty
    every = audit.priorities(ratings, STATEMENTS, wave="baseline", n=2, only_unmet=False)
    assert list(every[every.service == "gamma"]["statement"]) == ["1.02", "2.01"]
    with pytest.raises(ValueError, match="n must be"):
        audit.priorities(ratings, STATEMENTS, n=0)


def test_shared_gaps(ratings):
    g = audit.shared_gaps(ratings, STATEMENTS, wave="baseline")
    assert list(g["statement"]) == ["1.01", "3.01", "3.02", "1.02", "2.01", "2.02"]
    row = _row(g, statement="1.01")
    assert (row["n_services"], row["n_gap"], row["services"]) == (2, 1, "beta")
    assert row["pct_gap"] == pytest.approx(50.0)
    assert _row(g, statement="2.02")["services"] == "alpha"     # median 1.5 counts as not met
    fully = audit.shared_gaps(ratings, STATEMENTS, wave="baseline", gap="not fully met", n=3)
    assert list(fully["statement"]) == ["1.01", "1.02", "2.02"]
    assert list(fully["n_gap"]) == [2, 2, 2]
    assert _row(fully, statement="1.02")["pct_gap"] == pytest.approx(200 / 3)
    latest = audit.shared_gaps(ratings, STATEMENTS)
    assert (latest["n_gap"] == 0).all()


def test_export_action_plan_round_trip(ratings, tmp_path):
    from openpyxl import load_workbook

    target = tmp_path / "plans" / "alpha.xlsx"
    path = audit.export_action_plan(ratings, STATEMENTS, "alpha", target, n=3)
    assert path == target and path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["alpha.xlsx"]  # no temp left
    wb = load_workbook(path)
    assert wb.sheetnames == ["Action plan", "Section scores"]
    ws = wb["Action plan"]
    header = [c.value for c in ws[4]]
    assert header == ["Statement ref", "Section", "Statement", "Current rating", "Rater spread",
                      "What we will do", "Who", "By when", "How we will know"]
    body = [[c.value for c in row] for row in ws.iter_rows(min_row=5)]
    assert [r[0] for r in body] == ["2.02", "1.02", "1.01"]
    assert [r[3] for r in body] == [2, 2, 2.5]
    assert [r[4] for r in body] == [2, 0, 1]
    assert body[0][2] == "Statement text 3"
    assert all(v is None for r in body for v in r[5:])   # left for the service to fill
    sc = wb["Section scores"]
    rows = [[c.value for c in row] for row in sc.iter_rows(min_row=4)]
    assert len(rows) == 8
    total_fu = [r for r in rows if r[0] == "follow-up" and r[1] == "Total"][0]
    assert total_fu[3:7] == [12, 18, 15, 80.0]
    with pytest.raises(ValueError, match="no audit ratings"):
        audit.export_action_plan(ratings, STATEMENTS, "omega", tmp_path / "o.xlsx")
    with pytest.raises(ValueError, match="xlsx"):
        audit.export_action_plan(ratings, STATEMENTS, "alpha", tmp_path / "o.csv")


def test_export_action_plan_is_atomic(ratings, tmp_path, monkeypatch):
    import openpyxl

    def fail(self, filename):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    target = tmp_path / "beta.xlsx"
    target.write_bytes(b"previous")
    monkeypatch.setattr(openpyxl.Workbook, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        audit.export_action_plan(ratings, STATEMENTS, "beta", target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["beta.xlsx"]


# --------------------------------------------------------------------------
# Youth Music workbooks written, loaded and scored
# --------------------------------------------------------------------------

def test_workbook_folder_collates_and_scores(tmp_path):
    import changing_tracks as ct
    from changing_tracks.workbook import workbook_file_name, write_audit_workbook

    ratings = make_ratings()
    folder = tmp_path / "audit"
    for (service, wave, rater), part in ratings.groupby(["service", "wave", "rater"]):
        write_audit_workbook(folder / workbook_file_name(service, wave, rater),
                             part[["statement", "rating", "status"]], STATEMENTS,
                             organisation=service, rater=rater, wave=wave,
                             completed=DATES[(service, wave, rater)],
                             rating_style="words" if service == "beta" else "number")
    loaded = ct.load_audit(folder)
    assert len(loaded) == len(ratings)
    scores = audit.service_scores(loaded, STATEMENTS)
    expected = audit.service_scores(ratings, STATEMENTS)
    pd.testing.assert_frame_equal(scores.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_dtype=False)
    # and against the hand calculation
    assert _row(scores, service="alpha", wave="baseline", section="Total")["score"] == 8.5
    assert _row(scores, service="beta", wave="follow-up", section="Total")["score"] == 14
    coll = audit.collate(loaded)
    row = _row(coll, service="alpha", wave="baseline", statement="1.01")
    assert (row["rating"], row["spread"], bool(row["disagree"])) == (2, 2, True)
    comp = audit.completion(loaded).set_index("service")
    assert list(comp["status"]) == ["extended deadline", "on time", "not completed"]


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value, column", [("baseline", "pct_baseline"),
                                           ("follow-up", "pct_follow_up"),
                                           ("change", "change_pct")])
def test_plot_heatmap(ratings, value, column):
    ch = audit.change(ratings, STATEMENTS)
    fig = audit.plot_heatmap(ch, value=value)
    assert isinstance(fig, Figure)
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3, 4)
    want = _row(ch, service="beta", section="Total")[column]
    assert image[1, 3] == pytest.approx(want)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["alpha", "beta", "gamma"]
    with pytest.raises(ValueError, match="value"):
        audit.plot_heatmap(ch, value="radar")


def test_plot_dumbbell_and_disagreement(ratings):
    ch = audit.change(ratings, STATEMENTS)
    fig = audit.plot_dumbbell(ch)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    total_ax = fig.axes[3]
    xs = sorted(float(x) for c in total_ax.collections for x in c.get_offsets()[:, 0])
    expected = sorted([100 * 8.5 / 12, 80.0, 100 * 7 / 18, 100 * 14 / 18, 100 * 15 / 18])
    np.testing.assert_allclose(xs, expected)

    fig = audit.plot_disagreement(audit.collate(ratings))
    ax = fig.axes[0]
    # only alpha has two or more raters; baseline: spreads 2,1,0,1 (3.01 has one rating)
    widths = [p.get_width() for p in ax.patches]
    assert widths == [1, 2, 2, 2, 1, 1]   # spread 0, 1, 2 for (baseline, follow-up)
    one_rater = audit.plot_disagreement(audit.collate(ratings[ratings.service == "beta"]))
    assert isinstance(one_rater, Figure)


def test_docstring_examples():
    result = doctest.testmod(audit, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------
# Disclosure-control specs: audit tables count statements, raters and services
# --------------------------------------------------------------------------

def _all_tables(ratings):
    return {
        "collate": audit.collate(ratings, statements=STATEMENTS),
        "service_scores": audit.service_scores(ratings, STATEMENTS),
        "statement_change": audit.statement_change(ratings, STATEMENTS),
        "change": audit.change(ratings, STATEMENTS),
        "completion": audit.completion(ratings),
        "priorities": audit.priorities(ratings, STATEMENTS),
        "shared_gaps": audit.shared_gaps(ratings, STATEMENTS),
    }


def test_every_audit_table_declares_no_counts_of_people(ratings):
    for name, table in _all_tables(ratings).items():
        assert table.attrs["suppress"] == {"counts": [], "derived": {}}, name
        # survives row filtering
        first = table[table.index == table.index[0]]
        assert first.attrs["suppress"] == {"counts": [], "derived": {}}, name
    empty = audit.collate(ratings.iloc[0:0])
    assert empty.attrs["suppress"] == {"counts": [], "derived": {}}


def test_small_rater_and_statement_counts_are_not_suppressed(ratings):
    from changing_tracks.disclosure import suppress

    # Alpha has 3 baseline raters; its section scores rest on 1-2 statements: these
    # describe the organisation, not young people, so nothing is hidden.
    scores = audit.service_scores(ratings, STATEMENTS)
    total = scores[(scores["service"] == "alpha") & (scores["wave"] == "baseline")
                   & (scores["section"] == "Total")]
    assert total["n_raters"].iloc[0] == 3 and total["n_not_applicable"].iloc[0] == 2
    shown = suppress(scores, **scores.attrs["suppress"])
    assert not shown.isin(["c"]).any().any()
    pd.testing.assert_series_equal(shown["score"], scores["score"])
    # Without the spec the n / n_* columns would be taken for people and hidden.
    assert suppress(scores, derived={}).isin(["c"]).any().any()


def test_publishing_the_sample_audit_tables(sample_dir):
    from changing_tracks.reports import open_report

    report = open_report(sample_dir, "2019-20")
    ratings, statements = report.table("audit_ratings"), report.table("audit_statements")
    tables = [audit.service_scores(ratings, statements), audit.change(ratings, statements),
              audit.completion(ratings), audit.priorities(ratings, statements),
              audit.shared_gaps(ratings, statements)]
    for table in tables:
        published = report.publish(table, people="raters")
        assert len(published.table) == len(table)
        assert published.table.attrs["disclosure_warnings"] == []
        assert not published.table.isin(["c"]).any().any()


# --------------------------------------------------------------------------
# Equivalence with the loop-based implementation (issue 8: faster audit tables)
# --------------------------------------------------------------------------

def _equivalence_inputs():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / "data" / "equivalence_inputs.py"
    spec = importlib.util.spec_from_file_location("equivalence_inputs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [1, 2])
def test_tables_equal_the_loop_implementation(seed):
    """Every audit table equals, exactly, what the loop-based implementation gave on seeded
    data (12 services, 1-3 raters, blanks, N/A, missing dates, lost follow-ups), saved in
    tests/data/audit_reference.pkl.gz before the code was sped up."""
    from pathlib import Path

    r, st = _equivalence_inputs().audit_input(seed)
    ref = pd.read_pickle(Path(__file__).parent / "data" / "audit_reference.pkl.gz")[seed]
    got = {}
    for method in ("median", "mean", "min", "mode"):
        got[f"collate/{method}"] = audit.collate(r, method=method, statements=st)
        got[f"service_scores/{method}"] = audit.service_scores(r, st, method=method)
        got[f"change/{method}"] = audit.change(r, st, method=method)
        got[f"statement_change/{method}"] = audit.statement_change(r, st, method=method)
    got["service_scores/all"] = audit.service_scores(r, st, not_applicable="all", halves="up")
    got["change/any"] = audit.change(r, st, not_applicable="any", halves="down")
    got["completion"] = audit.completion(r)
    got["completion/extended"] = audit.completion(r, extended_services=["service01",
                                                                        "service03"])
    got["completion/nodates"] = audit.completion(r.drop(columns="date"))
    got["shared_gaps"] = audit.shared_gaps(r, st)
    got["shared_gaps/baseline"] = audit.shared_gaps(r, st, wave="baseline", gap="not fully met")
    got["priorities"] = audit.priorities(r, st)
    assert set(got) == set(ref)
    for key, frame in got.items():
        assert frame.attrs == ref[key].attrs, key
        pd.testing.assert_frame_equal(frame, ref[key], check_exact=True, obj=key)
    # the data exercise what the tables are about
    assert (ref["change/median"]["note"].str.contains("follow-up: no ratings")).any()
    assert (ref["completion/nodates"]["status"] == "date not recorded").any()
