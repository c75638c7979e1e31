"""Sections shared by a build's reports (changing_tracks.reports.shared_section).

A section kept by one report and read by another must be exactly what the other would
have worked out, and only ever be read by a report that would have worked out the same.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from changing_tracks import load_data
from changing_tracks.disclosure import DisclosurePolicy
from changing_tracks.reports import (Note, Parts, Published, Report, ShownFigure, open_report,
                                     programme, shared_section)
from changing_tracks.reports.snapshot import (SNAPSHOT_ENV, data_fingerprint, section_folder,
                                              write_snapshot)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture
def counted():
    """A section that counts how often it is worked out."""
    calls = []

    @shared_section
    def section(report, number=1, *, word="a"):
        calls.append((report.year, number, word))
        return Note(f"{report.year} {report.service} {number} {word} {report.policy.threshold}")

    return section, calls


def _report(data, folder, **changes):
    """A report as open_report gives it in a build whose snapshot is ``data``."""
    settings = {"year": "2019-20", "policy": DisclosurePolicy(), "analysis": {},
                "data_dir": Path("../data/sample"), "shared_sections": folder} | changes
    report = Report(data=data, **settings)
    report.__dict__["_snapshot"] = data
    return report


def test_a_section_is_worked_out_once_for_the_reports_that_show_it(sample_data, tmp_path,
                                                                   counted):
    section, calls = counted
    first = section(_report(sample_data, tmp_path), 2, word="b")
    again = section(_report(sample_data, tmp_path), 2, word="b")  # another report, same build
    assert calls == [("2019-20", 2, "b")]
    assert again == first and again is not first
    assert [p.suffix for p in tmp_path.iterdir()] == [".pickle"]  # no temporary left


@pytest.mark.parametrize("change", [
    {"year": "2018-19"}, {"service": "essex"}, {"policy": DisclosurePolicy(threshold=5)},
    {"analysis": {"audit_method": "mean"}}, {"data_dir": Path("elsewhere")}],
    ids=["year", "service", "policy", "analysis", "data folder"])
def test_a_report_that_differs_works_the_section_out_itself(sample_data, tmp_path, counted,
                                                            change):
    section, calls = counted
    section(_report(sample_data, tmp_path))
    section(_report(sample_data, tmp_path, **change))
    assert len(calls) == 2


def test_other_arguments_are_another_section(sample_data, tmp_path, counted):
    section, calls = counted
    report = _report(sample_data, tmp_path)
    for args, kwargs in (((), {}), ((2,), {}), ((), {"word": "b"}), ((2,), {"word": "b"})):
        section(report, *args, **kwargs)
    assert len(calls) == 4


def test_defaults_count_as_given(sample_data, tmp_path, counted):
    section, calls = counted
    report = _report(sample_data, tmp_path)
    for args, kwargs in (((), {}), ((1,), {}), ((), {"number": 1, "word": "a"})):
        section(report, *args, **kwargs)
    assert len(calls) == 1


def test_arguments_that_are_not_plain_values_are_never_shared(sample_data, tmp_path):
    """An iterator's repr is its address, which the next one may reuse: never a key."""
    seen = []

    @shared_section
    def section(report, items):
        seen.append(list(items))
        return Note(" ".join(seen[-1]))

    first = section(_report(sample_data, tmp_path), iter(["fsm"]))
    second = section(_report(sample_data, tmp_path), iter(["sen_support"]))
    assert (first.text, second.text) == ("fsm", "sen_support")
    assert not list(tmp_path.iterdir())


def test_a_report_whose_data_were_changed_works_the_section_out(sample_data, tmp_path,
                                                               counted):
    section, calls = counted
    section(_report(sample_data, tmp_path))
    changed = _report(sample_data, tmp_path)
    changed.data = dataclasses.replace(sample_data)  # not the build's snapshot any more
    section(changed)
    assert len(calls) == 2


def test_other_figure_settings_are_another_section(sample_data, tmp_path, counted,
                                                   monkeypatch):
    import matplotlib as mpl

    from changing_tracks import reports

    section, calls = counted
    section(_report(sample_data, tmp_path))
    monkeypatch.setattr(reports, "FIGURE_DPI", 200)
    section(_report(sample_data, tmp_path))
    with mpl.rc_context({"font.size": 14}):
        section(_report(sample_data, tmp_path))
    assert len(calls) == 3


def test_outside_a_build_every_report_works_the_section_out(sample_data, counted):
    section, calls = counted
    section(_report(sample_data, None))
    section(_report(sample_data, None))
    assert len(calls) == 2


def test_a_failing_section_keeps_nothing(sample_data, tmp_path):
    attempts = []

    @shared_section
    def fails(report):
        attempts.append(1)
        raise ValueError("no data")

    for _ in range(2):
        with pytest.raises(ValueError, match="no data"):
            fails(_report(sample_data, tmp_path))
    assert len(attempts) == 2 and not list(tmp_path.iterdir())


def test_an_unreadable_kept_section_is_worked_out_again(sample_data, tmp_path, counted):
    section, calls = counted
    section(_report(sample_data, tmp_path))
    (kept,) = tmp_path.iterdir()
    kept.write_bytes(b"cut short")
    assert section(_report(sample_data, tmp_path)) == section.__wrapped__(
        _report(sample_data, tmp_path))
    assert len(calls) == 3
    assert section(_report(sample_data, tmp_path)) is not None and len(calls) == 3  # kept again


def test_a_folder_that_cannot_be_written_leaves_the_report_as_it_was(sample_data, tmp_path,
                                                                     counted):
    section, calls = counted
    missing = tmp_path / "gone"
    assert section(_report(sample_data, missing)).text.startswith("2019-20 None 1 a")
    assert len(calls) == 1 and not missing.exists()


def test_only_reports_on_the_builds_snapshot_share_sections(sample_dir, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    shutil.copytree(sample_dir, data_dir)
    snapshot = write_snapshot(load_data(data_dir), data_dir, tmp_path,
                              data_fingerprint(data_dir))
    monkeypatch.setenv(SNAPSHOT_ENV, str(snapshot))
    assert section_folder() == tmp_path / "sections"
    assert open_report(data_dir, "2019-20").shared_sections == tmp_path / "sections"
    other = tmp_path / "other"
    shutil.copytree(sample_dir, other)
    assert open_report(other, "2019-20").shared_sections is None  # not the snapshot's data
    monkeypatch.delenv(SNAPSHOT_ENV)
    assert section_folder() is None
    assert open_report(data_dir, "2019-20").shared_sections is None


def _sections(notebook: str) -> list[tuple[str, tuple]]:
    """The programme sections a notebook shows, with their arguments, in order."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    calls = re.findall(r"programme\.(\w+)\(report(?:, (\d+))?\)",
                       "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))
    return [(name, (int(number),) if number else ()) for name, number in calls]


def _same(kept, worked_out) -> None:
    """The same items, showing the same HTML (figures: the same PNG)."""
    assert type(kept) is type(worked_out)
    if isinstance(worked_out, Parts):
        assert len(kept) == len(worked_out)
        for a, b in zip(kept, worked_out):
            _same(a, b)
        return
    if isinstance(worked_out, Published):
        pd.testing.assert_frame_equal(kept.table, worked_out.table)
        assert kept.table.attrs == worked_out.table.attrs
    if isinstance(worked_out, (Note, ShownFigure)):
        assert kept == worked_out
    show = getattr(worked_out, "_repr_html_", None)
    assert (kept._repr_html_() if show else repr(kept)) == (show() if show else repr(worked_out))


def test_every_programme_section_is_shared_and_read_back_as_worked_out(sample_data, tmp_path):
    """What the cross-service comparison reads of the annual report's sections is what it
    would have worked out: every section both notebooks show, on the sample."""
    annual, comparison = (_sections("annual_learning_report.ipynb"),
                          _sections("cross_service_comparison.ipynb"))
    both = [s for s in comparison if s in annual]
    assert len(both) >= 10
    for name, _ in annual + comparison:
        assert hasattr(getattr(programme, name), "__wrapped__"), name  # a shared section
    writer = _report(sample_data, tmp_path, data_dir=Path("../data/sample"))
    for name, args in both:
        getattr(programme, name)(writer, *args)
    kept = len(list(tmp_path.iterdir()))
    assert kept >= len(both) - 1  # sections an annual section calls are kept too
    reader, alone = _report(sample_data, tmp_path), _report(sample_data, None)
    for name, args in both:
        _same(getattr(programme, name)(reader, *args),
              getattr(programme, name).__wrapped__(alone, *args))
    assert len(list(tmp_path.iterdir())) == kept  # all read, none worked out again
