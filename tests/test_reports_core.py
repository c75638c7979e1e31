"""The report core (changing_tracks.reports): which rows a report sees, and what it publishes.

Hand-built tables with hand-worked expectations: the year a register row or an
organisational record belongs to, the disclosure spec a published table is
suppressed with (explicit specs replace the table's own; unpublished columns
no longer hide published ones), formatting, and the masked copy figures draw.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from changing_tracks.disclosure import DisclosurePolicy  # noqa: E402
from changing_tracks.reports import (Note, Parts, Report, Text, count_text,  # noqa: E402
                                     declared_spec, organisation_cutoff, year_dates)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(sample_data) -> Report:
    return Report(data=sample_data, year="2019-20", data_dir=REPO / "data" / "sample")


def _with(report: Report, **tables) -> Report:
    return dataclasses.replace(report, data=dataclasses.replace(report.data, **tables))


# ---------------------------------------------------------------- sentences and dates

def test_count_text():
    policy = DisclosurePolicy()
    assert [count_text(n, policy) for n in (0, 1, 9, 10, 1234)] == \
        ["0", "fewer than 10", "fewer than 10", "10", "1,234"]
    rounded = DisclosurePolicy(threshold=10, rounding_base=5)
    assert [count_text(n, rounded) for n in (12, 13, 7)] == ["10", "15", "fewer than 10"]
    assert count_text(pd.NA, policy) == "not known"


def test_year_dates_and_organisation_cutoff():
    assert year_dates("2019-20") == (pd.Timestamp("2019-09-01"), pd.Timestamp("2020-08-31"))
    assert organisation_cutoff("2018-19") == pd.Timestamp("2019-09-30")
    assert organisation_cutoff("2019-20", {"organisation_cutoff": "2020-08-31"}) == \
        pd.Timestamp("2020-08-31")
    with pytest.raises(ValueError, match="programme year"):
        organisation_cutoff("2019")
    with pytest.raises(ValueError, match="organisation_cutoff"):
        organisation_cutoff("2019-20", {"organisation_cutoff": "next summer"})


def test_text_and_parts_render():
    text = Text("**Title.**\n\nIntro <b>\n\n- one\n- two\n\nEnd")
    html = text._repr_html_()
    assert "<strong>Title.</strong>" in html and "&lt;b&gt;" in html
    assert html.count("<li>") == 2 and "<ul>" in html
    parts = Parts([Note("first"), Note("second"), 3])
    html = parts._repr_html_()
    assert html.index("first") < html.index("second") and "<pre>3</pre>" in html
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(parts)
    assert "text/html" in data and "second" in data["text/html"]


# ---------------------------------------------------------------- Report.table

def test_attendance_rows_belong_to_the_participants_year(report):
    people = pd.DataFrame({
        "participant": ["P1", "P1", "P2"], "service": ["essex", "essex", "essex"],
        "year": ["2018-19", "2019-20", "2019-20"]})
    registers = pd.DataFrame({
        "participant": ["P1", "P1", "P1", "P2", "P2", "P3"],
        "session_date": pd.to_datetime(["2019-06-01", "2019-10-01", "2017-10-01", "2020-08-31",
                                        "2020-09-01", "2019-10-01"]),
        "attended": [True] * 6})
    r = _with(report, participants=people, attendance=registers)
    year = r.table("attendance")
    # P1's June 2019 session belongs to 2018-19; P2's 1 September 2020 to 2020-21;
    # 2017 has no record of P1; P3 is nobody's participant
    assert list(zip(year["participant"], year["session_date"].dt.strftime("%Y-%m-%d"))) == \
        [("P1", "2019-10-01"), ("P2", "2020-08-31")]
    history = r.table("attendance", all_years=True)
    assert len(history) == 3 and "2019-06-01" in set(history["session_date"].astype(str))
    attended = r.table("attendance")["attended"]
    assert attended.all()


def test_attendance_rates_accept_the_years_registers(report):
    """The year's participants and registers are consistent: attendance_rates does not refuse."""
    from changing_tracks.participation import attendance_rates, register_problems

    r = dataclasses.replace(report, service="hertfordshire")
    people, registers = r.table("participants"), r.table("attendance")
    assert len(registers) and (register_problems(people, registers)["severity"] != "error").all()
    rates = attendance_rates(people, registers)
    assert set(rates["year"]) == {"2019-20"}


def test_organisational_records_of_the_year(report):
    stages = pd.DataFrame({
        "service": ["essex", "essex", "essex", "nowhere"],
        "wave": ["baseline", "follow-up", "baseline", "baseline"],
        "area": ["CPD", "CPD", "funding", "CPD"], "stage": "integration",
        "placed_by": "head",
        "date": pd.to_datetime(["2018-11-02", "2020-10-15", None, "2018-11-02"]),
    })
    r = _with(report, stages=stages)
    out = r.table("stages")
    # the follow-up after 30 September 2020 and the service not active in 2019-20 are left
    # out; the undated placement is kept
    assert out["wave"].tolist() == ["baseline", "baseline"]
    assert out.attrs["settings"]["undated_kept"] == 1
    assert out.attrs["settings"]["dated_up_to"] == "2020-09-30"
    later = dataclasses.replace(r, analysis={"organisation_cutoff": "2020-11-30"})
    assert len(later.table("stages")) == 3
    assert len(r.table("stages", all_years=True)) == 4
    one = dataclasses.replace(r, service="essex")
    assert set(one.table("stages")["service"]) == {"essex"}


def test_audit_records_in_the_sample(report):
    earlier = dataclasses.replace(report, year="2018-19")
    ratings = earlier.table("audit_ratings")
    assert set(ratings["wave"]) == {"baseline"}
    assert set(ratings["service"]) == set(earlier.active_services)
    assert "cornwall" not in set(ratings["service"])  # joined in 2019
    assert set(report.table("audit_ratings")["wave"]) == {"baseline", "follow-up"}


# ---------------------------------------------------------------- Report.publish

def _counts_table() -> pd.DataFrame:
    table = pd.DataFrame({"group": ["a", "b"], "n": [40, 30], "n_x": [3, 12], "n_y": [37, 18],
                          "pct_x": [7.5, 40.0], "pct_y": [92.5, 60.0]})
    table.attrs["suppress"] = {"counts": ["n", "n_x", "n_y"],
                               "derived": {"pct_x": ["n", "n_x"], "pct_y": ["n", "n_y"]},
                               "sums": {"n": ["n_x", "n_y"]}}
    return table


def _attrition_table() -> pd.DataFrame:
    """Like wellbeing.attrition: any = baseline + follow-up only; baseline = paired + lost."""
    table = pd.DataFrame({"service": ["a", "b"], "n": [45, 33], "n_baseline": [40, 30],
                          "n_follow_up_only": [5, 3], "n_paired": [28, 18], "n_lost": [12, 12]})
    table.attrs["suppress"] = {"counts": ["n", "n_baseline", "n_follow_up_only", "n_paired",
                                          "n_lost"],
                               "sums": {"n": ["n_baseline", "n_follow_up_only"],
                                        "n_baseline": ["n_paired", "n_lost"]}}
    return table


def test_unpublished_columns_do_not_hide_published_ones(report):
    table = _attrition_table()
    # all columns: the small follow-up-only counts (n - n_baseline) hide n_baseline, and
    # then one of its parts
    whole = report.publish(table)
    assert whole.table["n_follow_up_only"].tolist() == ["c", "c"]
    assert whole.table["n_baseline"].tolist() == ["c", "c"]
    assert ((whole.table[["n_paired", "n_lost"]] == "c").sum(axis=1) == 1).all()
    columns = {"service": "Service", "n_baseline": "Baseline", "n_paired": "Paired",
               "n_lost": "Lost"}
    # baseline, paired, lost only: n is a whole, taken as published elsewhere, so the
    # follow-up-only counts (n - n_baseline) are still protected ...
    assert report.publish(table, columns).table["Baseline"].tolist() == ["c", "c"]
    # ... unless n is published nowhere: then neither n nor n_follow_up_only can be worked
    # out, and nothing is hidden
    shown = report.publish(table, columns, unpublished=["n"])
    assert shown.table[["Baseline", "Paired", "Lost"]].values.tolist() == \
        [["40", "28", "12"], ["30", "18", "12"]]
    assert shown.table.attrs["count_columns"] == ["Baseline", "Paired", "Lost"]


def test_a_number_that_can_be_worked_out_stays_protected(report):
    table = _counts_table()
    # n and n_y published: n_x = n - n_y can be worked out, so it is still protected
    shown = report.publish(table, {"group": "Group", "n": "People", "n_y": "With y"})
    assert shown.table["With y"].tolist() == ["c", "18"]
    assert shown.table.attrs["count_columns"] == ["People", "With y"]
    # a published statistic keeps the counts it rests on in the check, shown or not
    stat = report.publish(table, {"group": "Group", "pct_x": "% x"})
    assert stat.table["% x"].tolist() == ["c", "40.0"]
    # parts published, whole not (it is usually published elsewhere): still protected
    parts = report.publish(table, {"group": "Group", "n_x": "x", "n_y": "y"})
    assert parts.table["y"].tolist() == ["c", "18"]


def test_an_explicit_spec_replaces_the_tables_own(report):
    table = _counts_table()
    out = report.publish(table, {"group": "Group", "n": "People", "n_x": "With x"},
                         counts=["n"], derived={})
    # n_x is no count under the caller's spec: shown as it is, and not listed as a count
    assert out.table["With x"].tolist() == ["3", "12"]
    assert out.table.attrs["count_columns"] == ["People"]
    assert declared_spec(table)["sums"] == {"n": ["n_x", "n_y"]}  # the table is not changed
    with pytest.raises(ValueError, match="unknown options"):
        report.publish(table, spec={"count": ["n"]})


def test_organisations_are_not_suppressed(report):
    table = pd.DataFrame({"section": ["1", "Total"], "n_improved": [2, 3],
                          "score": [12.25, 30.0]})
    out = report.publish(table, {"section": "Section", "n_improved": "Improved",
                                 "score": "Score"}, organisations=True)
    assert out.table["Improved"].tolist() == ["2", "3"]
    assert out.table.attrs["count_columns"] == []
    assert "not individual people" in out.footnote and "no numbers are hidden" in out.footnote


def test_decimals_per_column_round_half_up(report):
    table = pd.DataFrame({"n": [20, 30], "a": [0.125, 2.25], "b": [1234.5, -0.04],
                          "p": [0.0004, 0.0455]})
    out = report.publish(table, {"n": "n", "a": "A", "b": "B", "p": "p"}, counts=["n"],
                         derived={"a": "n", "b": "n", "p": "n"}, decimals={"a": 2, "b": 0},
                         p_values=["p"])
    assert out.table["A"].tolist() == ["0.13", "2.25"]  # Python's round gives 0.12
    assert out.table["B"].tolist() == ["1,235", "0"]  # halves up, never "-0"
    assert out.table["p"].tolist() == ["<0.001", "0.046"]
    default = report.publish(table, {"a": "A"}, counts=["n"], derived={"a": "n"})
    assert default.table["A"].tolist() == ["0.1", "2.3"]  # 2.25 -> 2.3 (f-string: 2.2)


def test_disclosure_warnings_are_kept_not_printed(report, recwarn):
    # totals both ways published elsewhere give the hidden cells away whatever is hidden
    strict = dataclasses.replace(report, policy=DisclosurePolicy(threshold=5))
    table = pd.DataFrame({"service": ["a", "a", "b", "b"], "activity": ["x", "y", "x", "y"],
                          "n": [0, 0, 1, 5]})
    out = strict.publish(table, {"service": "Service", "activity": "Activity", "n": "n"},
                         counts=["n"], groups=[["service"], ["activity"]])
    assert out.table["n"].tolist() == ["0", "0", "c", "c"]
    assert out.table.attrs["disclosure_warnings"]
    assert "could still be worked out" in out.table.attrs["disclosure_warnings"][0]
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_participant_ids_are_refused(report):
    ids = report.data.participants["participant"].dropna().iloc[:2].tolist()
    with pytest.raises(ValueError):
        report.publish(pd.DataFrame({"who": ids, "n": [20, 30]}))


# ---------------------------------------------------------------- Report.masked

def test_masked_hides_what_the_table_hides(report):
    table = _counts_table()
    masked = report.masked(table)
    assert masked["n_x"].isna().tolist() == [True, False]
    assert masked["n_y"].isna().tolist() == [True, False]  # secondary suppression
    assert masked["pct_x"].isna().tolist() == [True, False]
    assert masked["n"].tolist() == [40, 30]
    assert pd.api.types.is_float_dtype(masked["pct_x"])
    assert masked.attrs["suppress"] == table.attrs["suppress"]
    # as a table of baseline, paired and lost would show it: unpublished numbers missing
    attrition = _attrition_table()
    assert report.masked(attrition)["n_baseline"].isna().all()
    cut = report.masked(attrition, columns=["service", "n_baseline", "n_paired", "n_lost"],
                        unpublished=["n"])
    assert cut["n_baseline"].tolist() == [40, 30]
    assert cut["n"].isna().all() and cut["service"].tolist() == ["a", "b"]


def test_masked_rounds_counts_as_published(report):
    rounded = dataclasses.replace(report, policy=DisclosurePolicy(threshold=10,
                                                                  rounding_base=5))
    table = pd.DataFrame({"group": ["a", "b"], "n": [42, 7], "mean": [50.5, 48.0]})
    masked = rounded.masked(table, {"counts": ["n"], "derived": {"mean": "n"}})
    assert masked["n"].tolist()[0] == 40 and masked["n"].isna().tolist() == [False, True]
    assert masked["mean"].tolist()[0] == 50.5 and np.isnan(masked["mean"].iloc[1])
    published = rounded.publish(table, {"n": "n", "mean": "Mean"}, counts=["n"],
                                derived={"mean": "n"})
    assert published.table["n"].tolist() == ["40", "c"]


def test_unknown_analysis_setting_is_refused_before_loading(tmp_path):
    from changing_tracks.config import ConfigError, load_config
    from changing_tracks.reports import ANALYSIS_DEFAULTS, check_analysis, open_report

    with pytest.raises(ValueError, match="wellbeing_scael"):
        open_report(tmp_path / "missing", "2019-20", analysis={"wellbeing_scael": "WEMWBS"})
    assert check_analysis({"wellbeing_scale": "WEMWBS"}) == {"wellbeing_scale": "WEMWBS"}
    config = tmp_path / "c.toml"
    config.write_text('[analysis]\nprorate = true\n')
    with pytest.raises(ConfigError, match="prorate"):
        load_config(config)
    assert "wellbeing_allow_missing" in ANALYSIS_DEFAULTS


# ---------------------------------------------------------------- figures

def _panels(layout: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout=layout)
    axes = fig.subplots(2, 3, sharey=True)
    for k, ax in enumerate(axes.flat):
        ax.bar(["Woodwind", "Brass", "Percussion"], [k + 1, 2, 3])
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel("" if k % 2 else "Instrument family")
        ax.set_title(f"Service {k}")
    axes[0, 0].set_ylabel("Young people")
    fig.suptitle("A title wider than the panels beneath it, to stretch the tight box")
    return fig


@pytest.mark.parametrize("layout", ["constrained", "tight"])
def test_pinned_empty_axis_labels_leave_the_image_unchanged(layout):
    # the pin only skips work: the published PNG must stay the same, byte for byte
    import io

    from changing_tracks.reports import FIGURE_DPI, _pin_empty_axis_labels

    images = []
    for pin in (False, True):
        fig = _panels(layout)
        if pin:
            _pin_empty_axis_labels(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight",
                    metadata={"Software": None})
        images.append(buffer.getvalue())
    assert images[0] == images[1]
    fig = _panels(layout)
    _pin_empty_axis_labels(fig)
    labelled = fig.axes[0].xaxis
    assert labelled.get_label_text() == "Instrument family" and labelled._autolabelpos
    assert not fig.axes[1].xaxis._autolabelpos  # empty label: pinned


def _png_pixels(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(float)


def _savefig_tight(fig) -> bytes:
    import io

    from changing_tracks.reports import FIGURE_DPI, PNG_COMPRESS_LEVEL

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight",
                pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()


def _margins():
    # small axes in the middle of a big canvas: the tight box cuts most of it away
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6))
    ax = fig.add_axes((0.35, 0.3, 0.3, 0.3))
    ax.plot([0, 1, 2], [2, 0, 1], marker="o")
    ax.set_title("Off-centre title")
    return fig


@pytest.mark.parametrize("make", [lambda: _panels("constrained"), lambda: _panels("tight"),
                                  _margins], ids=["constrained", "tight", "margins"])
def test_render_png_draws_what_savefig_tight_draws(make):
    from changing_tracks.reports import render_png

    expected = _png_pixels(_savefig_tight(make()))
    got = _png_pixels(render_png(make()))
    assert got.shape == expected.shape
    # the same picture up to the box's place within a pixel: lines and letters land on
    # the next pixel at most, and only where they are anti-aliased; a crop two pixels out
    # (or a missing label) leaves far more pixels unmatched
    unmatched = (_unmatched(got, expected) > 64).mean()
    assert unmatched < 0.01
    assert unmatched < (_unmatched(np.roll(expected, 2, axis=0), expected) > 64).mean() / 4


def _unmatched(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Each pixel's difference from the closest of ``expected``'s pixels one step away."""
    height, width = expected.shape[:2]
    padded = np.pad(expected, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return np.min([np.abs(got - padded[dy:dy + height, dx:dx + width]).max(axis=-1)
                   for dy in range(3) for dx in range(3)], axis=0)


def test_render_png_leaves_figures_drawn_beyond_their_canvas_to_savefig():
    from matplotlib.figure import Figure

    from changing_tracks.reports import FIGURE_DPI, render_png

    def make():
        fig = Figure(figsize=(4, 3), layout="constrained")
        fig.subplots().bar(["a", "b"], [1, 2])
        fig.text(1.05, 0.5, "a note to the right of the canvas")
        return fig

    got = render_png(make())
    assert got == _savefig_tight(make())
    assert _png_pixels(got).shape[1] > 4 * FIGURE_DPI  # the canvas grew to show the note


def test_render_png_leaves_the_figure_its_dpi_and_canvas():
    from matplotlib.backend_bases import FigureCanvasBase

    from changing_tracks.reports import FIGURE_DPI, render_png

    fig = _panels("constrained")
    canvas, dpi = fig.canvas, fig.dpi
    assert type(canvas) is FigureCanvasBase and dpi != FIGURE_DPI
    render_png(fig)
    assert fig.canvas is canvas and fig.dpi == dpi
