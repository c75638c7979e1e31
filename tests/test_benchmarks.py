"""The national benchmark's data helpers (the benchmarks themselves run on demand: make bench)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.national import _trim_register, summary_table


def _register(path, rows):
    pd.DataFrame(rows, columns=["participant", "session_date", "attended"]).to_csv(
        path, index=False, lineterminator="\n")


def test_trim_register_keeps_everyones_first_session_then_file_order(tmp_path):
    path = tmp_path / "attendance.csv"
    _register(path, [("A", "2019-09-02", "yes"), ("A", "2019-09-09", "no"),
                     ("B", "2019-09-02", "yes"), ("A", "2019-09-16", "yes"),
                     ("C", "2019-09-03", "yes"), ("B", "2019-09-09", "yes")])
    _trim_register(path, 4)
    assert path.read_text() == ("participant,session_date,attended\n"
                                "A,2019-09-02,yes\nA,2019-09-09,no\n"
                                "B,2019-09-02,yes\nC,2019-09-03,yes\n")
    assert not list(tmp_path.glob("*.tmp"))


def test_trim_register_refuses_a_size_it_cannot_reach(tmp_path):
    path = tmp_path / "attendance.csv"
    _register(path, [("A", "2019-09-02", "yes"), ("B", "2019-09-02", "yes")])
    before = path.read_text()
    with pytest.raises(ValueError, match="cannot cut a register of 2 sessions of 2 young"):
        _trim_register(path, 1)
    with pytest.raises(ValueError, match="to 3 sessions"):
        _trim_register(path, 3)
    assert path.read_text() == before


def test_summary_table_says_which_targets_are_met():
    row = {"rows": {"participants": 9_080_000, "attendance": 10_000_000,
                    "wellbeing": 994_075, "audit_ratings": 53_985},
           "times": {"load and validate": 30.0, "reach": 5.0}, "total": 35.0,
           "peak_gib": 4.9, "size": "16x", "target_seconds": 60, "target_gib": 8}
    slow = {**row, "size": "16x slow", "total": 61.0}
    big = {**row, "size": "big", "peak_gib": 9.4, "target_seconds": None, "target_gib": 16}
    lines = summary_table([row, slow, big]).splitlines()
    assert lines[3].split()[1:5] == ["9,080,000", "10,000,000", "994,075", "30.0"]
    assert lines[3].endswith("yes (<= 60 s, <= 8 GiB)")
    assert lines[4].endswith("NO (<= 60 s, <= 8 GiB)")
    assert lines[5].endswith("yes (<= 16 GiB)")
