"""Loaders and validation on small hand-written files: every bad-input case names file, row, column."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import changing_tracks as ct
from changing_tracks.contracts import SWEMWBS_ITEMS, WEMWBS_ITEMS
from changing_tracks.workbook import write_audit_workbook

SERVICES = (
    "service,name,aliases,local_authority,region,cohort,focus\n"
    "hertfordshire,Hertfordshire Music Service,Herts; HMS,Hertfordshire,East of England,2018,x\n"
    "essex,Essex Music Service,,Essex,East of England,2018,\n"
)
HEADER = "Response ID,Participant,Service,Year,Wave,Date,Instrument,Age," + ",".join(
    f"Item {i}" for i in range(1, 15))


def _write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def _wellbeing_row(rid, participant, service, wave, when, age=14, items=None, instrument="WEMWBS"):
    items = items or [3] * 14
    cells = ["" if v is None else str(v) for v in items]
    return ",".join([rid, participant, service, "2019-20", wave, when, instrument, str(age), *cells])


@pytest.fixture
def folder(tmp_path):
    _write(tmp_path, "services.csv", SERVICES)
    return tmp_path


def _problems(error: ct.DataValidationError) -> pd.DataFrame:
    return error.problems[error.problems["severity"] == "error"]


def test_valid_wellbeing_loads_with_labels_bom_and_aliases(folder):
    rows = [HEADER,
            _wellbeing_row("r1", "p1", "Herts", "pre", "01/10/2019",
                           items=["None of the time", "often", 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4]),
            "",
            _wellbeing_row("r2", "p1", "Hertfordshire Music Service", "post", "2020-07-01")]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n", encoding="utf-8-sig")
    data = ct.load_data(folder)
    wb = data.wellbeing
    assert list(wb["service"]) == ["hertfordshire", "hertfordshire"]
    assert list(wb["wave"]) == ["baseline", "follow-up"]
    assert wb.loc[0, "optimistic"] == 1 and wb.loc[0, "useful"] == 4
    assert list(wb["source_row"]) == [2, 4]  # the blank line 3 is skipped but counted
    assert wb["date"].dt.strftime("%Y-%m-%d").tolist() == ["2019-10-01", "2020-07-01"]
    assert str(wb["age"].dtype) == "Int64"


def test_windows_1252_file_is_read(folder):
    text = ("service,name,aliases,local_authority,region,cohort,focus\n"
            "essex,Essex Music Service,Café Essex,Essex,East,2018,Músic\n")
    _write(folder, "services.csv", text, encoding="cp1252")
    data = ct.load_data(folder)
    assert data.services.loc[0, "aliases"] == "Café Essex"


def test_three_problems_reported_together_with_file_row_column(folder):
    rows = [HEADER,
            _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01",
                           items=[6] + [3] * 13),
            _wellbeing_row("r2", "p2", "Hertfordshir", "baseline", "2019-10-01"),
            _wellbeing_row("r3", "", "Herts", "baseline", "2019-10-01")]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    problems = _problems(info.value)
    found = {(p.file, p.row, p.column) for p in problems.itertuples()}
    assert ("wellbeing.csv", 2, "Item 1") in found
    assert ("wellbeing.csv", 3, "Service") in found
    assert ("wellbeing.csv", 4, "Participant") in found
    message = str(info.value)
    assert "found '6'" in message and "Hertfordshir" in message and "blank" in message
    assert "expected a whole number from 1 to 5" in message


def test_missing_required_column_names_unrecognised_headers(folder):
    header = HEADER.replace("Participant", "Partcipant ID")
    _write(folder, "wellbeing.csv", header + "\n" + _wellbeing_row("r1", "p1", "Herts",
                                                                   "baseline", "2019-10-01") + "\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    problems = _problems(info.value)
    assert (problems["column"] == "participant").any()
    assert "Partcipant ID" in str(info.value)
    assert problems.iloc[0]["row"] == 1


def test_duplicate_key_names_both_rows(folder):
    rows = [HEADER, _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01"),
            _wellbeing_row("r1", "p2", "Herts", "baseline", "2019-10-01")]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    problems = _problems(info.value)
    assert len(problems) == 1
    assert problems.iloc[0]["row"] == 3 and "row 2" in problems.iloc[0]["message"]


def test_follow_up_before_baseline_and_age_out_of_range(folder):
    rows = [HEADER, _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01"),
            _wellbeing_row("r2", "p1", "Herts", "follow-up", "2019-09-15", age=4)]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    problems = _problems(info.value)
    assert set(zip(problems["row"], problems["column"])) == {(3, "Date"), (3, "Age")}
    assert "before the participant's baseline" in str(info.value)
    assert "from 5 to 25" in str(info.value)


def test_swemwbs_with_wemwbs_only_item_is_an_error(folder):
    items = [3 if k in SWEMWBS_ITEMS else None for k in WEMWBS_ITEMS]
    items[WEMWBS_ITEMS.index("energy")] = 4
    rows = [HEADER, _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01", items=items,
                                   instrument="SWEMWBS")]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    problems = _problems(info.value)
    assert list(problems["column"]) == ["Item 5"]


def test_participant_missing_from_participation_is_a_warning(folder):
    _write(folder, "participants.csv",
           "participant,service,year,activity,setting,year_group,sex,ethnicity,fsm,sen,"
           "looked_after,young_carer,eal,start,end,status,progression\n"
           "p9,essex,2019-20,ensemble,community,Y8,F,White,yes,none,no,no,no,2019-09-10,,active,\n")
    rows = [HEADER, _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01")]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    data = ct.load_data(folder)
    warnings = data.warnings
    assert (warnings["severity"] == "warning").all()
    assert ((warnings["file"] == "wellbeing.csv") & (warnings["row"] == 2)
            & (warnings["column"] == "Participant")).any()
    assert data.participants.loc[0, "year_group"] == 8
    assert data.participants.loc[0, "sex"] == "female"
    assert bool(data.participants.loc[0, "fsm"]) is True


def test_register_session_after_end_date_is_a_problem(folder):
    _write(folder, "participants.csv",
           "participant,service,year,activity,setting,year_group,sex,ethnicity,fsm,sen,"
           "looked_after,young_carer,eal,start,end,status,progression\n"
           "p1,essex,2019-20,ensemble,community,8,female,white,no,none,no,no,no,2019-09-10,"
           "2019-12-01,withdrew,\n")
    _write(folder, "attendance.csv", "participant,session_date,attended\n"
                                     "p1,2019-09-17,yes\np1,2020-01-14,present\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    problems = _problems(info.value)
    assert list(zip(problems["file"], problems["row"], problems["column"])) == [
        ("attendance.csv", 3, "session_date")]
    assert "after the participant's end date" in str(info.value)


def test_identifier_columns_refused_unless_allowed(folder):
    rows = [HEADER + ",Full name,DOB",
            _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01") + ",Ann Smith,2006-01-01"]
    _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_data(folder)
    columns = set(_problems(info.value)["column"])
    assert {"Full name", "DOB"} <= columns
    data = ct.load_data(folder, allow_identifiers=True)
    assert "Full name" not in data.wellbeing.columns
    assert "Ann Smith" not in data.wellbeing.astype(str).to_numpy()


def test_input_files_are_never_modified(folder):
    rows = [HEADER, _wellbeing_row("r1", "p1", "Herts", "baseline", "2019-10-01")]
    path = _write(folder, "wellbeing.csv", "\n".join(rows) + "\n")
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    ct.load_data(folder)
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


def test_excel_file_with_title_rows_loads(folder):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Wellbeing survey export"])
    ws.append([])
    ws.append(HEADER.split(","))
    ws.append(["r1", "p1", "HMS", "2019-20", "Baseline", date(2019, 10, 1), "WEMWBS", 13]
              + [4] * 14)
    wb.save(folder / "wellbeing.xlsx")
    data = ct.load_data(folder)
    assert data.wellbeing.loc[0, "source_row"] == 4
    assert data.wellbeing.loc[0, "service"] == "hertfordshire"


def _statements():
    return pd.DataFrame({"statement": [f"{s}.{i:02d}" for s in (1, 2, 3) for i in (1, 2)],
                         "section": [s for s in (1, 2, 3) for _ in (1, 2)],
                         "text": [f"Statement {k}" for k in range(6)]})


def test_audit_workbook_folder_loads_and_cross_checks_summary(tmp_path):
    statements = _statements()
    ratings = pd.DataFrame({"statement": statements["statement"],
                            "rating": pd.array([1, 2, 3, None, 2, None], dtype="Int64"),
                            "status": ["rated"] * 3 + ["not rated", "rated", "not applicable"],
                            "comment": ["evidence", None, None, None, None, None]})
    folder = tmp_path / "audit"
    write_audit_workbook(folder / "hertfordshire_baseline_lead.xlsx", ratings, statements,
                         organisation="Herts", rater="Inclusion lead", wave="baseline",
                         completed=date(2019, 7, 10), rating_style="words")
    write_audit_workbook(folder / "x.xlsx", ratings, statements, organisation="Essex",
                         rater="Head", wave="follow-up", completed=date(2020, 9, 1))
    services = pd.read_csv(pd.io.common.StringIO(SERVICES))
    audit = ct.load_audit(folder, services=services)
    assert len(audit) == 12
    herts = audit[audit["service"] == "hertfordshire"].set_index("statement")
    assert herts.loc["1.01", "rating"] == 1 and herts.loc["1.01", "comment"] == "evidence"
    assert herts.loc["2.02", "status"] == "not rated" and pd.isna(herts.loc["2.02", "rating"])
    assert herts.loc["3.02", "status"] == "not applicable"
    assert set(audit["wave"]) == {"baseline", "follow-up"}
    assert audit.attrs["warnings"].empty

    # A summary sheet that disagrees with the ratings gives a warning, and the ratings win.
    from openpyxl import load_workbook

    path = folder / "x.xlsx"
    wb = load_workbook(path)
    wb["Summary"]["B9"] = 99
    wb.save(path)
    audit = ct.load_audit(folder, services=services)
    warnings = audit.attrs["warnings"]
    assert len(warnings) == 1 and warnings.iloc[0]["sheet"] == "Summary"
    assert "99" in warnings.iloc[0]["message"]


def test_audit_bad_rating_named_with_sheet_and_row(tmp_path):
    statements = _statements()
    ratings = pd.DataFrame({"statement": statements["statement"],
                            "rating": pd.array([1, 2, 3, 1, 2, 3], dtype="Int64"),
                            "status": ["rated"] * 6})
    path = write_audit_workbook(tmp_path / "essex_baseline_head.xlsx", ratings, statements,
                                organisation="Essex", rater="Head", wave="baseline",
                                completed=date(2019, 7, 1))
    from openpyxl import load_workbook

    wb = load_workbook(path)
    wb["Section 2"]["C6"] = "Mostly"
    wb.save(path)
    with pytest.raises(ct.DataValidationError) as info:
        ct.load_audit(path)
    problems = _problems(info.value)
    assert list(zip(problems["sheet"], problems["row"], problems["column"])) == [
        ("Section 2", 6, "Rating")]
    assert "Mostly" in str(info.value)


def test_missing_services_table_is_an_error(tmp_path):
    with pytest.raises(ct.DataValidationError, match="services"):
        ct.load_data(tmp_path)


def test_problem_log_merge_takes_problems_and_headers_as_if_logged_there():
    from changing_tracks.validation import ProblemLog

    held, log = ProblemLog(), ProblemLog()
    log.add("first", file="a.csv")
    held.headers[("b.xlsx", "rating")] = "Score"
    held.add("held back", file="b.xlsx", sheet="Section 1")
    held.add_rows(pd.DataFrame({"source_file": ["b.xlsx"], "source_row": [5]}),
                  message="'rating' is blank", column="rating")
    log.merge(held)
    problems = log.frame()
    assert list(problems["message"]) == ["first", "held back", "'rating' is blank"]
    assert problems["column"].iloc[2] == "Score"
    assert log.headers[("b.xlsx", "rating")] == "Score"
