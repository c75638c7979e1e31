"""Results a report works out once (Report.cached, Report.table) and the prepared id check.

Each cached result must equal a fresh computation, come back as a copy the caller
may change, and be keyed by what it depends on (year, service, analysis settings,
the data, and the disclosure policy when asked).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from changing_tracks import audit, outcomes, participation, wellbeing  # noqa: E402
from changing_tracks.disclosure import (DisclosureError, DisclosurePolicy,  # noqa: E402
                                        IdentifierSet, check_no_identifiers, suppress,
                                        suppression_mask)
from changing_tracks.reports import POOLED, Report  # noqa: E402
from changing_tracks.reports import programme, service  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def report(sample_data) -> Report:
    return Report(data=sample_data, year="2019-20", data_dir=REPO / "data" / "sample")


@pytest.fixture
def service_report(sample_data) -> Report:
    return Report(data=sample_data, year="2019-20", service="hertfordshire",
                  data_dir=REPO / "data" / "sample")


# ---------------------------------------------------------------- Report.cached

def test_cached_computes_once_and_returns_copies(report):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"n": [1, 2]}), {"counts": ["n"]}

    table, spec = report.cached("thing", compute)
    table.loc[0, "n"] = 99
    spec["counts"].append("other")
    again, spec_again = report.cached("thing", compute)
    assert calls == [1]
    assert again["n"].tolist() == [1, 2] and spec_again == {"counts": ["n"]}


def test_cached_is_keyed_by_what_the_result_depends_on(report):
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert report.cached("k", compute, key="a") == 1
    assert report.cached("k", compute, key="a") == 1
    assert report.cached("k", compute, key="b") == 2
    report.analysis["min_n_for_tests"] = 5          # a changed setting: computed again
    assert report.cached("k", compute, key="a") == 3
    report.year = "2018-19"
    assert report.cached("k", compute, key="a") == 4
    report.policy = DisclosurePolicy(threshold=5)    # not asked to depend on the policy
    assert report.cached("k", compute, key="a") == 4
    assert report.cached("p", compute, policy=True) == 5
    report.policy = DisclosurePolicy(threshold=3)
    assert report.cached("p", compute, policy=True) == 6
    report.data = dataclasses.replace(report.data)   # other data: computed again
    assert report.cached("k", compute, key="a") == 7


def test_cache_is_not_shared_between_reports(report):
    report.cached("x", lambda: 1)
    other = dataclasses.replace(report)
    assert other.cached("x", lambda: 2) == 2


# ---------------------------------------------------------------- Report.table

@pytest.mark.parametrize("flags", [{}, {"all_years": True}, {"all_services": True}])
@pytest.mark.parametrize("name", ["participants", "attendance", "wellbeing", "audit_ratings",
                                  "stages", "tutors", "cpd", "services", "benchmarks"])
def test_table_cached_equals_fresh(service_report, name, flags):
    first = service_report.table(name, **flags)
    fresh = service_report._table(name, flags.get("all_services", False),
                                  flags.get("all_years", False))
    pd.testing.assert_frame_equal(first, fresh)
    assert first.attrs == fresh.attrs
    pd.testing.assert_frame_equal(service_report.table(name, **flags), fresh)


def test_table_copy_can_be_changed(report):
    people = report.table("participants")
    people.loc[:, "service"] = "changed"
    people["extra"] = 1
    again = report.table("participants")
    assert "extra" not in again and (again["service"] != "changed").all()


def test_table_follows_year_and_service(report):
    assert set(report.table("participants")["year"]) == {"2019-20"}
    report.year = "2018-19"
    assert set(report.table("participants")["year"]) == {"2018-19"}
    report.service = "essex"
    assert set(report.table("participants")["service"]) == {"essex"}
    assert report.active_services == report._active_services()


# ---------------------------------------------------------------- sections' cached analyses

def test_service_analyses_equal_fresh(service_report):
    r = service_report
    ratings = r.table("audit_ratings")
    pd.testing.assert_frame_equal(
        service._audit_change(r, ratings),
        audit.change(ratings, r.table("audit_statements"), **service._audit_options(r)))
    pd.testing.assert_frame_equal(
        service._representation(r),
        participation.representation(r.table("participants"), r.table("benchmarks"),
                                     r.table("services"), year=r.year, pooled=False))
    scored = service._scored(r)
    pd.testing.assert_frame_equal(scored, wellbeing.score(r.table("wellbeing")))
    change = wellbeing.change_by(scored, by="service", **service._change_options(r))
    pd.testing.assert_frame_equal(service._change(r, scored),
                                  change[change["service"] != POOLED].reset_index(drop=True))
    pd.testing.assert_frame_equal(
        service._outcome_change(r),
        outcomes.change(r.table("outcome_ratings"), r.table("outcome_indicators"),
                        by=("service", "domain"), pooled=False))


def test_service_sections_same_when_shown_twice(service_report):
    for section in (service.representation_table, service.audit_scores,
                    service.equity_tables, service.wellbeing_attrition,
                    service.outcomes_change_table, service.workforce_diversity_table):
        assert section(service_report)._repr_html_() == section(service_report)._repr_html_()


def test_programme_analyses_equal_fresh(report):
    data = programme._workforce_data(report)
    table, _ = programme._cpd_participation(data, report)
    from changing_tracks import workforce

    pd.testing.assert_frame_equal(table, workforce.cpd_participation(*data, year=report.year))
    pd.testing.assert_frame_equal(programme._cpd_summary(report, data),
                                  workforce.cpd_summary(*data, year=report.year))
    odata = programme._outcomes_data(report)
    people = report.table("participants")
    pd.testing.assert_frame_equal(
        programme._service_coverage(report, odata),
        outcomes.coverage(*odata, people, by=("service",), threshold=0.5))
    first = programme.heard_evidence(report)._repr_html_()
    assert programme.heard_evidence(report)._repr_html_() == first


# ---------------------------------------------------------------- prepared id checks

def test_identifier_set_finds_what_the_ids_find():
    ids = pd.Series(["P001", "AB-12", None, " ", "17"])
    prepared = IdentifierSet(ids)
    table = pd.DataFrame({"note": ["", "about P001", "17", "xAB-12"], "n": [17, 12, 11, 10]},
                         index=["w", "x", "y", "z"])
    messages = []
    for given in (ids, prepared):
        with pytest.raises(DisclosureError) as err:
            check_no_identifiers(table, given)
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "participant id 'P001' appears in column 'note', row 'x'" in messages[0]
    assert "participant id '17' appears in column 'note', row 'y'" in messages[0]
    assert "AB-12" not in messages[0]  # not a separate token
    check_no_identifiers(table[["n"]], prepared)  # numbers are counts, not ids


def test_suppression_mask_marks_hidden_cells_only():
    table = pd.DataFrame({"group": ["a", "b", "c"], "n": [25, 4, 30],
                          "mean": [1.5, 2.5, 3.5]})
    display = suppress(table, derived={"mean": "n"}, groups=[], additive=["n"])
    mask = suppression_mask(display)
    assert list(mask.columns) == ["group", "n", "mean"]
    assert mask.dtypes.eq(bool).all()
    assert mask.to_numpy().tolist() == [[False, True, True], [False, True, True],
                                        [False, False, False]]


def test_participant_ids_prepared_once_per_report_and_data(report, sample_data):
    ids = report._ids()
    assert report._ids() is ids  # kept, not copied: nothing changes it
    report.data = dataclasses.replace(sample_data)
    assert report._ids() is not ids
