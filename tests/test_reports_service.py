"""Service report: section functions on the sample, disclosure of what they publish, notebooks.

The section functions run for four service-years chosen to cover the cases that break
naive code: a large service with every kind of data (Hertfordshire 2019-20), a service
with no wellbeing data and a small staff group (Norfolk, both years, 2018-19 without any
follow-up audit or stage placement), and a 2018-19 service with wellbeing data (Essex).
Every published table is checked for visible counts below the threshold and for
participant ids. The two notebooks are executed with papermill.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from changing_tracks.disclosure import (DisclosureError, DisclosurePolicy,  # noqa: E402
                                       check_no_identifiers)
from changing_tracks.reports import (Note, Parts, Published, Report,  # noqa: E402
                                     ShownFigure, Text)
from changing_tracks.reports import service as sv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CASES = [("hertfordshire", "2019-20"), ("norfolk", "2019-20"), ("norfolk", "2018-19"),
         ("essex", "2018-19")]
ALL_FUNCTIONS = [f for fns in sv.SECTIONS.values() for f in fns]


def _report(data, service, year, **kwargs) -> Report:
    return Report(data=data, year=year, service=service, data_dir=REPO / "data" / "sample",
                  **kwargs)


def _items(shown):
    """The displayable leaves of a section's output."""
    if isinstance(shown, Parts):
        for part in shown:
            yield from _items(part)
    else:
        yield shown


@pytest.fixture(scope="module")
def outputs(sample_data):
    """Every section function's output for every case, computed once."""
    result = {}
    for service, year in CASES:
        report = _report(sample_data, service, year)
        for function in ALL_FUNCTIONS:
            result[(service, year, function.__name__)] = function(report)
    return result


@pytest.fixture(scope="module")
def ids(sample_data):
    return sample_data.participants["participant"].dropna().unique()


def _visible_counts(published: Published) -> list[tuple[str, int]]:
    found = []
    for heading in published.table.attrs.get("count_columns", []):
        for cell in published.table[heading]:
            text = str(cell).replace(",", "")
            if re.fullmatch(r"-?\d+", text):
                found.append((heading, int(text)))
    return found


# ---------------------------------------------------------------- sample runs

@pytest.mark.parametrize("service,year", CASES)
def test_every_section_returns_something_displayable(outputs, service, year):
    for function in ALL_FUNCTIONS:
        shown = outputs[(service, year, function.__name__)]
        assert isinstance(shown, (Published, Note, ShownFigure, Text, Parts)), \
            function.__name__
        html = shown._repr_html_()
        assert isinstance(html, str) and html, function.__name__
        assert "Traceback" not in html
        for item in _items(shown):
            assert isinstance(item, (Published, Note, ShownFigure, Text)), function.__name__
            if isinstance(item, ShownFigure):
                assert item.png.startswith(b"\x89PNG")


def test_published_tables_hide_small_counts(outputs):
    checked = 0
    for key, shown in outputs.items():
        for item in _items(shown):
            if not isinstance(item, Published):
                continue
            for heading, value in _visible_counts(item):
                checked += 1
                assert value == 0 or value >= 10, (key, heading, value)
    assert checked > 200  # the check looked at a real number of counts


def test_count_check_can_fail(sample_data):
    """The parser above finds small counts when nothing is hidden (the test can fail)."""
    report = _report(sample_data, "norfolk", "2019-20", policy=DisclosurePolicy(threshold=0))
    small = [v for v in _visible_counts(sv.retention_table(report)) if 0 < v[1] < 10]
    assert small


def test_no_participant_ids_published(outputs, ids):
    for key, shown in outputs.items():
        for item in _items(shown):
            if isinstance(item, Published):
                check_no_identifiers(item.table, ids)
                text = item.caption + " " + item.footnote
            else:
                text = getattr(item, "text", getattr(item, "markdown", "")) + \
                    getattr(item, "note", "") + getattr(item, "alt", "")
            tokens = set(re.findall(r"[A-Za-z0-9-]+", text))
            assert not tokens & set(ids), key


def test_missing_data_give_no_data_notes(outputs):
    # Norfolk used no wellbeing scale: every wellbeing section says so
    for function in sv.SECTIONS["wellbeing"]:
        shown = outputs[("norfolk", "2019-20", function.__name__)]
        assert isinstance(shown, Note) and shown.text.startswith("No data"), function.__name__
    intro = outputs[("norfolk", "2019-20", "introduction")].markdown
    assert "Wellbeing questionnaires (WEMWBS / SWEMWBS): **no data**" in intro
    # 2018-19: the follow-up audit and stage placements came later
    completion = outputs[("norfolk", "2018-19", "audit_completion")]
    assert isinstance(completion, Parts) and "after the 2018-19" in completion[0].text
    stages = outputs[("norfolk", "2018-19", "stages_table")].table
    assert set(stages["Journey"]) == {"baseline only"}
    scores = outputs[("norfolk", "2018-19", "audit_scores")].table
    assert scores["Follow-up score"].isna().all()


def test_hertfordshire_numbers_match_the_analysis_modules(outputs, sample_data):
    from changing_tracks import audit, wellbeing

    report = _report(sample_data, "hertfordshire", "2019-20")
    scored = wellbeing.score(report.table("wellbeing"))
    expected = wellbeing.change_by(scored, by="service").iloc[0]
    shown = outputs[("hertfordshire", "2019-20", "wellbeing_change")].table.iloc[0]
    assert int(shown["Young people paired"]) == expected["n"] == 18
    assert float(shown["Mean change"]) == pytest.approx(expected["mean_change"], abs=0.05)
    assert float(shown["d_z (change / SD of change)"]) == pytest.approx(expected["d_z"],
                                                                        abs=0.005)
    total = audit.change(report.table("audit_ratings"), report.table("audit_statements"))
    total = total[total["section"] == "Total"].iloc[0]
    row = outputs[("hertfordshire", "2019-20", "audit_scores")].table.iloc[-1]
    assert row["Section"] == "Total"
    assert float(row["Follow-up score"]) == pytest.approx(total["score_follow_up"])
    assert int(row["Improved"]) == total["n_improved"]


def test_stricter_policy_and_analysis_choices(sample_data):
    policy = DisclosurePolicy(threshold=20, rounding_base=5)
    report = _report(sample_data, "hertfordshire", "2019-20", policy=policy,
                     analysis={"wellbeing_scale": "WEMWBS", "audit_priorities": 3})
    for function in (sv.reach_summary, sv.retention_table, sv.attendance_table,
                     sv.outcomes_change_table, sv.wellbeing_attrition):
        for item in _items(function(report)):
            if isinstance(item, Published):
                for heading, value in _visible_counts(item):
                    assert value == 0 or (value >= 20 and value % 5 == 0), (heading, value)
    assert "WEMWBS" in sv.wellbeing_change(report).caption
    assert len(sv.audit_priorities(report).table) == 3
    assert "fewer than 20" in sv.introduction(report).markdown or \
        "numbers below 20" in sv.introduction(report).markdown


def test_invalid_choices_are_refused(sample_data):
    report = _report(sample_data, "hertfordshire", "2019-20",
                     analysis={"wellbeing_scale": "GHQ-12"})
    with pytest.raises(ValueError, match="wellbeing_scale"):
        sv.wellbeing_change(report)
    with pytest.raises(ValueError, match="activity"):
        sv.reach_by(report, "postcode")


# ---------------------------------------------------------------- helpers, by hand

def test_disagreement_counts_by_hand():
    collated = pd.DataFrame({
        "wave": ["baseline"] * 4 + ["follow-up"] * 2,
        "n_raters": [3, 3, 3, 1, 2, 2],
        "n_rated": [3, 3, 2, 1, 2, 2],
        "spread": [0.0, 1.0, 2.0, 0.0, 2.0, 2.0],
    })
    table = sv.disagreement_counts(collated)
    assert table.to_dict("records") == [
        {"wave": "baseline", "n_raters": 3, "n_statements": 3, "n_same": 1, "n_one_apart": 1,
         "n_disagree": 1, "pct_disagree": pytest.approx(100 / 3)},
        {"wave": "follow-up", "n_raters": 2, "n_statements": 2, "n_same": 0,
         "n_one_apart": 0, "n_disagree": 2, "pct_disagree": 100.0},
    ]


# ---------------------------------------------------------------- notebooks

def _notebook(name):
    import nbformat

    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", ["service_report.ipynb", "explore.ipynb"])
def test_notebooks_are_committed_clean(name):
    nb = _notebook(name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        assert cell.get("id")
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    if name == "service_report.ipynb":
        params = tagged[0].source
        for parameter in ("data_dir: str", "year: str", "service: str", "disclosure: dict",
                          "analysis: dict"):
            assert parameter in params
        # every section function is shown by the report
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for function in ALL_FUNCTIONS:
            assert f"sections.{function.__name__}(report" in source, function.__name__
        assert "report.provenance(" in nb.cells[-1].source


def _execute(name, tmp_path, parameters=None):
    import papermill

    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), cwd=str(NOTEBOOKS),
                               kernel_name="python3", parameters=parameters or {},
                               progress_bar=False)
    return json.loads(out.read_text())


def _outputs_text(nb) -> str:
    texts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output.get("evalue")
            if output["output_type"] == "stream":
                texts.append("".join(output["text"]))
            for mime, value in output.get("data", {}).items():
                if mime in ("text/html", "text/plain", "text/markdown"):
                    texts.append(re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "",
                                        "".join(value)))
    return "\n".join(texts)


def test_service_report_notebook_runs(tmp_path, ids):
    nb = _execute("service_report.ipynb", tmp_path,
                  {"service": "hertfordshire", "year": "2019-20"})
    text = _outputs_text(nb)
    assert "Hertfordshire Music Service" in text
    assert "© NHS Health Scotland" in text
    assert "How this report was made" in text
    assert not set(re.findall(r"[A-Z]{3}-\d{4}", text)) & set(ids)
    assert "Warning" not in text


def test_explore_notebook_runs(tmp_path, ids):
    nb = _execute("explore.ipynb", tmp_path)
    text = _outputs_text(nb)
    assert "audit_ratings" in text  # data.summary() was shown
    found = set(re.findall(r"[A-Z]{3}-\d{4}", text)) & set(ids)
    assert not found, f"participant ids printed: {sorted(found)[:5]}"


def test_figure_with_participant_ids_as_categories_is_refused(sample_data):
    # bar categories become tick labels only when drawn: the check looks at the drawn figure
    report = _report(sample_data, "hertfordshire", "2019-20")
    ids = sample_data.participants["participant"].astype(str).head(2).tolist()
    fig, ax = plt.subplots()
    ax.bar(ids, [3, 4])
    with pytest.raises(DisclosureError, match=ids[0]):
        report.figure(fig)
    assert fig.number not in plt.get_fignums()  # closed even when refused
