"""Programme-level report sections (changing_tracks.reports.programme) and their notebooks."""

from __future__ import annotations

import dataclasses
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from changing_tracks.reports import POOLED, Note, Parts, Published, Report, ShownFigure, open_report
from changing_tracks.reports import programme
from changing_tracks.stats import sign_test

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

#: Every section function that takes just the report.
SECTIONS = [
    "partners", "reach_summary", "reach_table", "activities_and_settings",
    "representation_table", "representation_figure", "engagement", "equity",
    "audit_completion", "audit_heatmaps", "audit_change_table", "audit_progress",
    "shared_gaps_table", "stages_grid", "early_stages", "stage_journey",
    "cpd_participation_table", "reflective_practice", "cpd_heatmap", "cpd_topics",
    "cpd_online_shift", "workforce_diversity", "genres",
    "wellbeing_attrition", "wellbeing_funnel", "wellbeing_forest", "wellbeing_shrunken",
    "wellbeing_kruskal", "wellbeing_pooled", "wellbeing_caveats", "copyright_note",
    "outcomes_distribution", "outcomes_change", "outcomes_coverage",
    "heard_evidence", "comparison_caveats",
]
DISPLAYABLE = (Published, Note, ShownFigure)


def _items(result) -> list:
    return list(result) if isinstance(result, list) else [result]


@pytest.fixture(scope="module")
def report_1920() -> Report:
    return open_report(SAMPLE, "2019-20")


@dataclasses.dataclass
class Run:
    """Every section's result for one report, and every table published on the way."""

    report: Report
    results: dict
    published: list  # (input table, columns, spec, Published)
    heard: pd.DataFrame


def _run(report: Report, names=SECTIONS) -> Run:
    published = []
    original = Report.publish

    def spy(self, table, columns=None, **kwargs):
        out = original(self, table, columns, **kwargs)
        published.append((table.copy(), dict(columns or {}), dict(kwargs), out))
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Report, "publish", spy)
        results = {name: getattr(programme, name)(report) for name in names}
        results["factors"] = Parts(programme.factor_evidence(report, k)
                                             for k in range(1, 6))
        heard = programme.heard_evidence_table(report)
    return Run(report, results, published, heard)


@pytest.fixture(scope="module", params=["2019-20", "2018-19"])
def run(request, report_1920) -> Run:
    return _run(dataclasses.replace(report_1920, year=request.param))


# --------------------------------------------------------------------------
# Every section, both sample years
# --------------------------------------------------------------------------

def test_every_section_returns_displayable_items(run):
    for name, result in run.results.items():
        items = _items(result)
        assert items, name
        for item in items:
            assert isinstance(item, DISPLAYABLE), (name, type(item))
            html = item._repr_html_()
            assert isinstance(html, str) and html, name
        if isinstance(result, list):
            assert isinstance(result, Parts), name
            assert all(i._repr_html_() in result._repr_html_() for i in items)


def test_sections_show_the_year_they_were_asked_for(run):
    summary = run.results["reach_summary"]
    assert run.report.year in summary.text
    if run.report.year == "2018-19":
        # fewer services, no follow-up audit, no stage journey yet
        assert "6 partner music services" in summary.text
        assert any(isinstance(i, Note) and "No follow-up audit" in i.text
                   for i in _items(run.results["audit_completion"]))
        assert isinstance(run.results["stage_journey"], Note)
    else:
        assert "8 partner music services" in summary.text
        assert isinstance(run.results["stage_journey"], Parts)


def test_no_small_count_is_visible(run):
    threshold = run.report.policy.threshold
    checked = 0
    for _, _, _, published in run.published:
        for heading in published.table.attrs["count_columns"]:
            for value in published.table[heading]:
                if value in (None, run.report.policy.symbol):
                    continue
                number = int(str(value).replace(",", ""))
                assert number == 0 or number >= threshold, (published.caption, heading, value)
                checked += 1
    assert checked > 50


def test_count_check_can_fail(report_1920):
    """With nothing hidden, the published count headings do show small numbers."""
    from changing_tracks.disclosure import DisclosurePolicy

    report = dataclasses.replace(report_1920, policy=DisclosurePolicy(threshold=0))
    published = [i for i in _items(programme.engagement(report)) if isinstance(i, Published)]
    small = [v for p in published for h in p.table.attrs["count_columns"]
             for v in p.table[h] if v is not None and 0 < int(str(v).replace(",", "")) < 10]
    assert small


def test_no_identifier_in_any_published_table(run):
    data = run.report.data
    ids = set(data.participants["participant"].dropna().astype(str)) \
        | set(data.tutors["tutor"].dropna().astype(str))
    pattern = re.compile(r"\b[A-Z]{3}-T?\d{2,4}\b")  # the sample's id shape, e.g. HER-0012
    for _, _, _, published in run.published:
        cells = [str(c) for c in published.table.to_numpy().ravel()] \
            + [str(c) for c in published.table.columns]
        for cell in cells:
            assert cell not in ids, (published.caption, cell)
            assert not pattern.search(cell), (published.caption, cell)


def test_no_league_tables(run):
    names = dict(zip(run.report.data.services["service"], run.report.data.services["name"]))
    seen = 0
    for _, _, _, published in run.published:
        headings = [str(h).lower() for h in published.table.columns]
        assert not any("rank" in h or "position" in h or "league" in h for h in headings), \
            published.caption
        if "Music service" in published.table.columns:
            shown = [str(s) for s in published.table["Music service"]]
            services = [s for s in shown if s != POOLED]
            assert services == sorted(services, key=str.casefold), published.caption
            assert POOLED not in shown or shown[-1] == POOLED
            assert set(services) <= set(names.values())
            seen += 1
    assert seen >= 10


def test_heard_table_has_every_principle_and_factor(run):
    table = run.heard
    principles = table[table["kind"] == "HEARD principle"]
    factors = table[table["kind"] == "Factor for success"]
    assert list(principles["item"]) == ["Holistic", "Equitable", "Authentic", "Representative",
                                        "Diverse"]
    assert [int(i.split(".")[0]) for i in factors["item"]] == [1, 2, 3, 4, 5]
    status = dict(zip(table["item"].str.split(".").str[0], table["status"]))
    assert status["Authentic"] == "No data"
    assert status["5"] == "No data"
    for name in ("Holistic", "Equitable", "Representative", "Diverse", "1", "2", "3"):
        assert status[name] in ("Yes", "Partial"), name
    assert table["evidence"].str.len().gt(20).all()
    published = run.results["heard_evidence"]
    assert len(published.table) == 10
    assert "No data" in set(published.table["Evidence in the data"])
    # a factor with no data says so in its note too
    assert "No data" in run.results["factors"][4].text


def test_figures_render_to_png(run):
    figures = [i for r in run.results.values() for i in _items(r) if isinstance(i, ShownFigure)]
    assert len(figures) >= 8
    assert all(f.png.startswith(b"\x89PNG") for f in figures)


# --------------------------------------------------------------------------
# Emptied tables: "No data" notes, never exceptions
# --------------------------------------------------------------------------

def test_emptied_wellbeing_gives_no_data_notes(report_1920):
    data = dataclasses.replace(report_1920.data,
                               wellbeing=report_1920.data.wellbeing.iloc[0:0])
    report = dataclasses.replace(report_1920, data=data)
    for name in ("wellbeing_attrition", "wellbeing_funnel", "wellbeing_forest",
                 "wellbeing_shrunken", "wellbeing_kruskal", "wellbeing_pooled",
                 "wellbeing_caveats"):
        result = getattr(programme, name)(report)
        assert isinstance(result, Note), name
        assert result.text.startswith("No data"), name


def test_every_table_emptied(report_1920):
    emptied = {name: getattr(report_1920.data, name).iloc[0:0]
               for name in ("participants", "attendance", "wellbeing", "outcome_ratings",
                            "audit_ratings", "stages", "tutors", "cpd")}
    report = dataclasses.replace(report_1920,
                                 data=dataclasses.replace(report_1920.data, **emptied))
    result = _run(report)
    assert set(result.heard["status"]) == {"No data"}
    for name, value in result.results.items():
        for item in _items(value):
            assert isinstance(item, DISPLAYABLE), name
    for name in ("reach_table", "wellbeing_pooled", "audit_heatmaps", "stages_grid",
                 "cpd_heatmap", "outcomes_change", "genres"):
        assert isinstance(result.results[name], Note), name
        assert "No data" in result.results[name].text, name


def test_emptied_outcomes_only_affect_their_sections(report_1920):
    data = dataclasses.replace(report_1920.data,
                               outcome_ratings=report_1920.data.outcome_ratings.iloc[0:0])
    report = dataclasses.replace(report_1920, data=data)
    table = programme.heard_evidence_table(report)
    status = dict(zip(table["item"].str.split(".").str[0], table["status"]))
    assert status["Holistic"] == "No data"
    assert status["2"] == "No data"
    assert status["3"] == "Yes"
    assert isinstance(programme.outcomes_coverage(report), Note)


# --------------------------------------------------------------------------
# Library functions, hand-computed
# --------------------------------------------------------------------------

def test_pooled_audit_change_by_hand():
    change = pd.DataFrame({
        "service": ["a", "b", "c", "d"] * 2,
        "section": ["1"] * 4 + ["Total"] * 4,
        "section_title": ["Embedding"] * 4 + ["All sections"] * 4,
        "pct_baseline": [50.0, 60.0, 40.0, 70.0, 55.0, 65.0, 45.0, 70.0],
        "pct_follow_up": [60.0, 55.0, 40.0, np.nan, 65.0, 70.0, 50.0, np.nan],
    })
    change["change_pct"] = change["pct_follow_up"] - change["pct_baseline"]
    out = programme.pooled_audit_change(change).set_index("section")
    one = out.loc["1"]
    assert one["n"] == 3 and one["n_baseline_only"] == 1
    assert one["mean_baseline"] == pytest.approx(50.0)
    assert one["mean_follow_up"] == pytest.approx(155 / 3)
    assert one["mean_change"] == pytest.approx(5 / 3)
    assert (one["n_improved"], one["n_same"], one["n_declined"]) == (1, 1, 1)
    assert one["p_sign"] == pytest.approx(1.0)
    total = out.loc["Total"]
    assert (total["n_improved"], total["min_change"], total["max_change"]) == (3, 5.0, 10.0)
    assert total["p_sign"] == pytest.approx(0.25)  # 3 of 3 improved: 2 x 0.5^3
    assert total["p_sign"] == pytest.approx(sign_test(3, 0))
    with pytest.raises(ValueError, match="missing"):
        programme.pooled_audit_change(change.drop(columns="pct_follow_up"))


def test_domain_coverage_summary_by_hand():
    coverage = pd.DataFrame({
        "service": ["a"] * 3 + ["b"] * 3,
        "domain": ["personal", "social", "musical"] * 2,
        "n_participants": [10, 12, 11, 0, 9, 20],
        "gap": [False, False, False, True, True, False],
    })
    out = programme.domain_coverage_summary(coverage)
    assert out["n_domains_rated"].tolist() == [3, 2]
    assert out["all_rated"].tolist() == [True, False]
    assert out["gaps"].tolist() == ["", "personal, social"]


def test_rating_levels_by_hand():
    dist = pd.DataFrame({"domain": ["personal", "social"], "wave": "baseline", "n": [12, 3],
                         "n_ratings": [20, 4], "n_1": [2, 0], "n_2": [6, 1], "n_3": [5, 1],
                         "n_4": [4, 2], "n_5": [3, 0], "pct_1": [10.0, 0.0], "median": [3, 3]})
    out = programme.rating_levels(dist)
    assert list(out.columns[:2]) == ["domain", "wave"]
    assert out[["n_low", "n_mid", "n_high"]].values.tolist() == [[8, 5, 7], [1, 1, 2]]
    assert out["pct_high"].tolist() == pytest.approx([35.0, 50.0])
    assert (out["n_low"] + out["n_mid"] + out["n_high"]).tolist() == out["n_ratings"].tolist()
    fig = programme.plot_rating_levels(out)
    assert len(fig.axes[0].patches) == 6


def test_sentence_counts_respect_the_threshold(report_1920):
    report = report_1920
    rounded = dataclasses.replace(report, policy=dataclasses.replace(report.policy,
                                                                     rounding_base=5))
    assert programme._share(report, 41, 150) == "27% of 150"
    assert programme._share(report, 5, 150) is None and programme._share(report, 145, 150) is None
    assert programme._share(rounded, 41, 152) == "27% of 150"
    row = pd.Series({"n_with": 41, "n": 150, "pct": 27.333})
    assert programme._shown_share(report, row, "n_with", "n", "pct") == "27% of 150"
    assert programme._shown_share(report, row.replace(41, "c"), "n_with", "n") is None
    # one hidden category of a family hides the next smallest too
    assert programme._shown_categories(report, [120, 5, 14, 0], [139] * 4) == \
        [True, False, False, True]


def test_analysis_settings_are_checked(report_1920):
    bad = dataclasses.replace(report_1920, analysis={"wellbeing_scale": "GHQ"})
    with pytest.raises(ValueError, match="wellbeing_scale"):
        programme.wellbeing_attrition(bad)
    wemwbs = dataclasses.replace(report_1920, analysis={"wellbeing_scale": "WEMWBS",
                                                        "meta_method": "pm"})
    notes = programme.wellbeing_forest(wemwbs)
    assert any("Paule-Mandel" in i.text for i in _items(notes) if isinstance(i, Note))


# --------------------------------------------------------------------------
# The notebooks
# --------------------------------------------------------------------------

NOTEBOOKS = ["cross_service_comparison.ipynb", "annual_learning_report.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean(name):
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for key in ("data_dir: str", "year: str", "disclosure: dict", "analysis: dict"):
        assert key in tagged[0].source
    for cell in nb.cells:
        assert cell.get("id")
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert len([ln for ln in cell.source.splitlines() if ln.strip()]) <= 4


def test_notebooks_execute_for_2019_20(tmp_path):
    import papermill as pm

    def execute(name):
        out = tmp_path / name
        pm.execute_notebook(str(REPO / "notebooks" / name), str(out),
                            parameters={"data_dir": str(SAMPLE), "year": "2019-20"},
                            cwd=str(REPO / "notebooks"), kernel_name="python3",
                            progress_bar=False)
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(execute, NOTEBOOKS))
    import nbformat

    for path in outputs:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for output in cell.outputs:
                assert output.output_type != "error", (path.name, cell.source)
                if output.output_type == "stream":
                    assert output.name != "stderr", (path.name, output.text[:300])
        html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells
                       if c.cell_type == "code" for o in c.outputs)
        assert "How this report was made" in html
        assert "NHS Health Scotland" in html  # the WEMWBS copyright line
