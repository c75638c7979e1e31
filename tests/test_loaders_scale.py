"""The loader's national-scale machinery gives the same answers as the plain way.

The fast CSV path (coded columns read as Arrow dictionaries, source columns as categoricals),
the integer-code key and cross-table checks and the part-by-part register writer are each
compared with a straightforward reference on small, deliberately messy data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from changing_tracks import loaders, sample
from changing_tracks.contracts import SWEMWBS_ITEMS, TABLES, WEMWBS_ITEMS
from changing_tracks.loaders import _Codes
from changing_tracks.validation import ProblemLog

PARTICIPANTS = (
    "participant,service,year,activity,setting,year_group,sex,ethnicity,fsm,sen,looked_after,"
    "young_carer,eal,start,end,status,progression\n"
    "A1 ,essex, 2019-20,whole class ensemble teaching , primary school,5,female,white,yes,"
    "none,no,no,no,2019-09-10,2020-03-01,completed,\n"
    ",,,,,,,,,,,,,,,,\n"
    " A2,essex,2019-20,Whole Class Ensemble Teaching,primary school, 6 ,Male,white, No ,"
    "none,no,,no,2019-09-10,,continuing, lessons\n"
)


def _services(folder):
    (folder / "services.csv").write_text(
        "service,name,aliases,local_authority,region,cohort,focus\n"
        "essex,Essex Music Service,,Essex,East of England,2018,\n")


def test_fast_and_fallback_csv_paths_give_the_same_table(tmp_path, monkeypatch):
    """Padded cells, an all-blank row: the Arrow path equals the pandas path (forced here;
    its file has a blank line too, which only shifts the row numbers after it)."""
    fast = tmp_path / "fast"
    slow = tmp_path / "slow"
    for folder in (fast, slow):
        folder.mkdir()
        _services(folder)
    (fast / "participants.csv").write_text(PARTICIPANTS)
    lines = PARTICIPANTS.splitlines(keepends=True)
    (slow / "participants.csv").write_text("".join(lines[:3] + ["\n"] + lines[3:]))
    a = loaders.load_participation(fast / "participants.csv")
    monkeypatch.setattr(loaders, "_read_csv_arrow", lambda *args: None)
    b = loaders.load_participation(slow / "participants.csv")
    assert a["source_row"].tolist() == [2, 4]
    assert b["source_row"].tolist() == [2, 5]
    pd.testing.assert_frame_equal(a.drop(columns="source_row"), b.drop(columns="source_row"))
    assert a["participant"].tolist() == ["A1", "A2"]
    assert a["activity"].tolist() == ["whole class ensemble teaching"] * 2
    assert a["year_group"].tolist() == [5, 6]
    assert a["fsm"].tolist() == [True, False]
    assert a["year"].tolist() == ["2019-20"] * 2
    assert a["participant"].dtype == pd.StringDtype("pyarrow")
    assert isinstance(a["source_file"].dtype, pd.CategoricalDtype)
    assert a["source_file"].astype(str).tolist() == ["participants.csv"] * 2
    assert a["source_sheet"].isna().all()


def test_bad_coded_cells_are_named_by_row(tmp_path):
    _services(tmp_path)
    (tmp_path / "participants.csv").write_text(
        PARTICIPANTS + "A3,essex,2019-20,juggling,primary school,5,female,white,yes,none,no,no,"
        "no,2019-09-32,,completed,\n")
    with pytest.raises(loaders.DataValidationError) as err:
        loaders.load_data(tmp_path)
    problems = err.value.problems
    bad = problems[problems["message"].str.contains("cannot be read")]
    assert sorted(zip(bad["row"], bad["column"], bad["value"])) == [
        (5, "activity", "juggling"), (5, "start", "2019-09-32")]


def test_several_files_keep_categorical_source_columns(tmp_path):
    folder = tmp_path / "participants"
    folder.mkdir()
    _services(tmp_path)
    lines = PARTICIPANTS.splitlines(keepends=True)
    (folder / "a.csv").write_text("".join(lines[:2]))
    (folder / "b.csv").write_text(lines[0] + lines[3])
    data = loaders.load_data(tmp_path)
    files = data.participants["source_file"]
    assert isinstance(files.dtype, pd.CategoricalDtype)
    assert files.astype(str).tolist() == ["participants/a.csv", "participants/b.csv"]


def _messy(seed: int, n_people: int = 40, rows: int = 300):
    """Participation records, questionnaires and a register with missing values, unknown
    people, a participant recorded twice in a year under two services, and sessions outside
    the records' dates."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:03d}" for i in range(n_people)], dtype=object)
    services = np.array(["essex", "herts", "kent"], dtype=object)
    years = np.array(["2019-20", "2020-21", "2021-22"], dtype=object)

    def pick(values, n, blank=0.05):
        out = values[rng.integers(0, len(values), n)].astype(object)
        out[rng.random(n) < blank] = None
        return pd.array(out, dtype="string")

    start = pd.to_datetime("2019-09-01") + pd.to_timedelta(rng.integers(0, 900, rows), "D")
    end = start + pd.to_timedelta(rng.integers(-5, 200, rows), "D")
    end = end.where(rng.random(rows) > 0.2)
    participants = pd.DataFrame({
        "participant": pick(ids[: n_people * 3 // 4], rows), "service": pick(services, rows),
        "year": pick(years, rows), "start": start, "end": end,
        "source_file": "participants.csv", "source_sheet": None,
        "source_row": np.arange(rows) + 2})
    m = rows * 2
    frame = pd.DataFrame({
        "participant": pick(ids, m), "service": pick(services, m), "year": pick(years, m),
        "source_file": "wellbeing.csv", "source_sheet": None, "source_row": np.arange(m) + 2})
    dates = pd.Series(pd.to_datetime("2019-08-01") + pd.to_timedelta(
        rng.integers(0, 1100, m), "D")).where(rng.random(m) > 0.03)
    attendance = pd.DataFrame({
        "participant": pick(ids, m), "session_date": dates,
        "source_file": "attendance.csv", "source_sheet": None, "source_row": np.arange(m) + 2})
    return participants, frame, attendance


def _problem_rows(log: ProblemLog) -> list[tuple]:
    out = log.frame()
    return sorted(zip(out["row"], out["message"], out["value"].astype(str)))


@pytest.mark.parametrize("seed", range(6))
def test_missing_participant_check_equals_a_merge(seed):
    participants, frame, _ = _messy(seed)
    log = ProblemLog()
    loaders._check_missing_participants(_Codes(frame), _Codes(participants), "q", log)
    keys = ["participant", "service", "year"]
    listed = participants[keys].dropna().drop_duplicates().assign(_listed=True)
    merged = frame.merge(listed, on=keys, how="left")
    expected = frame[merged["_listed"].isna().to_numpy() & frame["participant"].notna()]
    assert sorted(log.frame()["row"]) == sorted(expected["source_row"])


@pytest.mark.parametrize("seed", range(6))
def test_register_check_equals_a_row_by_row_lookup(seed):
    participants, _, attendance = _messy(seed)
    log = ProblemLog()
    loaders._check_attendance(_Codes(attendance), _Codes(participants), log)
    first: dict[tuple, int] = {}
    for i, (p, y) in enumerate(zip(participants["participant"], participants["year"])):
        if pd.notna(p) and pd.notna(y):
            first.setdefault((p, int(y[:4])), i)
    expected = []
    for p, when, row in zip(attendance["participant"], attendance["session_date"],
                            attendance["source_row"]):
        if pd.isna(p) or pd.isna(when):
            continue
        i = first.get((p, when.year - (when.month < 9)))
        if i is None:
            expected.append((row, "register"))
            continue
        start, end = participants["start"].iloc[i], participants["end"].iloc[i]
        if pd.notna(end) and when > end:
            expected.append((row, "after"))
        if pd.notna(start) and when < start:
            expected.append((row, "before"))
    found = [(row, "register" if msg.startswith("register") else
              "after" if "after" in msg else "before") for row, msg, _ in _problem_rows(log)]
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize("seed", range(4))
def test_key_check_equals_pandas_duplicated(seed):
    participants, _, attendance = _messy(seed)
    for frame, name in ((participants, "participants"), (attendance, "attendance")):
        log = ProblemLog()
        loaders._check_keys(frame, TABLES[name], log)
        key = list(TABLES[name].key)
        dup = frame.duplicated(subset=key, keep=False) & frame[key].notna().all(axis=1)
        first = frame[dup].groupby(key)["source_row"].transform("min")
        expected = sorted(frame.loc[dup, "source_row"][frame.loc[dup, "source_row"] != first])
        assert sorted(r["row"] for r in log.rows) == expected


def test_codes_of_dates_and_text_match_across_tables():
    a = _Codes(pd.DataFrame({"d": pd.to_datetime(["2020-01-02", None, "2020-01-05"]),
                             "t": pd.array(["x", None, "y"], dtype="string")}))
    b = _Codes(pd.DataFrame({"d": pd.to_datetime(["2020-01-05", "2021-01-01"]),
                             "t": pd.Categorical(["y", "z"])}))
    assert a.of("d", b).tolist() == [a("d")[0][2], -1]
    assert a.of("t", b).tolist() == [a("t")[0][2], -1]
    assert a("d")[0][1] == -1 and a("t")[0][1] == -1


def test_register_written_in_parts_is_byte_identical(tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    parts = tmp_path / "parts"
    sample.write_sample(whole, seed=7, n_services=3, participants_per_service=30,
                        audit_format="csv", outcomes=False)
    monkeypatch.setattr(sample, "_REGISTER_PART_ROWS", 50)
    sample.write_sample(parts, seed=7, n_services=3, participants_per_service=30,
                        audit_format="csv", outcomes=False)
    for name in ("attendance.csv", "README.md"):
        assert (whole / name).read_bytes() == (parts / name).read_bytes()
    register = pd.read_csv(parts / "attendance.csv")
    generated = sample.generate(seed=7, n_services=3, participants_per_service=30,
                                outcomes=False)["attendance"]
    assert len(register) == len(generated) > 50


def _old_early_follow_ups(frame: pd.DataFrame) -> list[tuple]:
    """The follow-up check done the plain pandas way (group, join), for comparison."""
    keys = ["participant", "service", "year"]
    dated = frame.dropna(subset=["date", "participant"])
    base = dated[dated["wave"] == "baseline"].groupby(keys, dropna=False)["date"].min()
    follow = dated[dated["wave"] == "follow-up"].join(base.rename("baseline_date"), on=keys)
    early = follow[follow["date"] < follow["baseline_date"]]
    return sorted(zip(early["source_row"], early["date"].dt.strftime("%Y-%m-%d"))), \
        sorted(set(early["baseline_date"].dt.strftime("%Y-%m-%d")))


@pytest.mark.parametrize("seed", range(6))
def test_follow_up_before_baseline_check_equals_group_and_join(seed):
    """Missing services and years are values of their own, as when grouping keeps them."""
    _, frame, _ = _messy(seed, n_people=15, rows=200)
    rng = np.random.default_rng(seed)
    n = len(frame)
    frame["wave"] = pd.array(np.array(["baseline", "follow-up", None], dtype=object)[
        rng.integers(0, 3, n)], dtype="string")
    frame["date"] = pd.Series(pd.to_datetime("2019-09-01") + pd.to_timedelta(
        rng.integers(0, 60, n), "D")).where(rng.random(n) > 0.05).astype("datetime64[ns]")
    frame["instrument"] = "WEMWBS"
    for item in WEMWBS_ITEMS:
        frame[item] = pd.array([pd.NA] * n, dtype="Int64")
    log = ProblemLog()
    loaders._check_wellbeing(frame, log)
    found = log.frame()
    rows, baselines = _old_early_follow_ups(frame)
    assert rows, "the data should have early follow-ups"
    assert sorted(zip(found["row"], found["value"])) == rows
    assert set(found["expected"]) == {"a date after the baseline (" + ", ".join(baselines) + ")"}


def test_ids_encoded_together_match_each_table_alone():
    """Participant ids hashed once across tables (a categorical register included) give
    the same matches as encoding each table and looking the values up."""
    participants, frame, attendance = _messy(3)
    attendance = attendance.assign(participant=attendance["participant"].astype("category"))
    attendance["participant"] = attendance["participant"].cat.set_categories(
        attendance["participant"].cat.categories.astype("string[pyarrow]"))
    participants = participants.assign(
        participant=participants["participant"].astype("string[pyarrow]"))
    frame = frame.assign(participant=frame["participant"].astype("string[pyarrow]"))
    shared = [_Codes(t) for t in (participants, frame, attendance)]
    loaders._share_codes(shared, "participant")
    alone = [_Codes(t) for t in (participants, frame, attendance)]
    assert all(shared[0]("participant")[1] is c("participant")[1] for c in shared)
    for s, a in zip(shared[1:], alone[1:]):
        ids = shared[0]("participant")[1].to_pylist()
        mine = alone[0]("participant")[1].to_pylist()
        via_shared = [ids[c] if c >= 0 else None for c in shared[0].of("participant", s)]
        via_alone = [mine[c] if c >= 0 else None for c in alone[0].of("participant", a)]
        # values known to participants map to the same id; others are unmatched (-1 alone)
        assert [v if v in mine else None for v in via_shared] == via_alone
    for sessions_log, alone_log in ((ProblemLog(), ProblemLog()),):
        loaders._check_attendance(shared[2], shared[0], sessions_log)
        loaders._check_attendance(alone[2], alone[0], alone_log)
        assert _problem_rows(sessions_log) == _problem_rows(alone_log)


def test_sessions_with_times_are_compared_as_timestamps():
    """A session at 10:00 on the end date is after an end at midnight; one at 09:00 on the
    start date is before a start at 10:00 (the day-number shortcut needs midnight sessions)."""
    participants = pd.DataFrame({
        "participant": pd.array(["A", "B"], dtype="string"),
        "year": pd.array(["2019-20", "2019-20"], dtype="string"),
        "start": pd.to_datetime(["2019-09-10 00:00", "2019-09-10 10:00"]),
        "end": pd.to_datetime(["2019-10-01 00:00", pd.NaT]),
        "source_file": "p.csv", "source_sheet": None, "source_row": [2, 3]})
    attendance = pd.DataFrame({
        "participant": pd.array(["A", "A", "B", "B"], dtype="string"),
        "session_date": pd.to_datetime(["2019-10-01 10:00", "2019-10-01 00:00", "2019-09-10 09:00",
                                        "2019-09-10 10:00"]).astype("datetime64[ns]"),
        "source_file": "a.csv", "source_sheet": None, "source_row": [2, 3, 4, 5]})
    log = ProblemLog()
    loaders._check_attendance(_Codes(attendance), _Codes(participants), log)
    found = [(row, "after" if "after" in msg else "before") for row, msg, _ in _problem_rows(log)]
    assert found == [(2, "after"), (4, "before")]


def test_blank_lines_keep_the_fast_path_and_row_numbers(tmp_path, monkeypatch):
    """Blank lines are read as blank rows (then dropped), so the fast path numbers the rows
    after them right; a quoted line break sends the file to the pandas reader."""
    path = tmp_path / "participants.csv"
    lines = PARTICIPANTS.splitlines(keepends=True)
    path.write_text("".join(lines[:3] + ["\n", "\n"] + lines[3:]))
    fallback = []
    monkeypatch.setattr(loaders.pd, "read_csv", lambda *a, **k: fallback.append(1))
    raw = loaders._read_csv(path, "participants.csv", TABLES["participants"])
    assert not fallback
    assert raw.rows.tolist() == [2, 6]
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(lines[0] + lines[1].replace("completed", '"com\npleted"'))
    assert loaders._read_csv_arrow(quoted, "quoted.csv", TABLES["participants"]) is None
    coded = tmp_path / "coded.csv"  # in a column read as a dictionary
    coded.write_text(lines[0] + lines[1].replace("female", '"fe\nmale"'))
    assert loaders._read_csv_arrow(coded, "coded.csv", TABLES["participants"]) is None


def test_key_check_by_sorting_finds_every_repeat():
    """Keys too sparse to count: repeats are found by sorting, in or out of order."""
    keys = np.array([10 ** 12, 5, 7 * 10 ** 11, 5, 10 ** 12, 3, 9, 5], dtype=np.int64)
    skip = np.array([False, False, False, False, False, False, False, True])
    assert loaders._duplicated(keys, 2 * 10 ** 12, skip).tolist() == [
        True, True, False, True, True, False, False, False]
    ordered = np.array([1, 4, 9, 10 ** 12], dtype=np.int64)
    assert not loaders._duplicated(ordered, 2 * 10 ** 12, np.zeros(4, bool)).any()


def _register_folder(folder, parts=1, line_break=False):
    """Participants, questionnaires and a register with padded, blank and unknown ids, the
    register in ``parts`` files (one with a quoted line break, read by pandas, if asked)."""
    folder.mkdir()
    _services(folder)
    (folder / "participants.csv").write_text(PARTICIPANTS + "".join(
        f"P{i},essex,2019-20,whole class ensemble teaching,primary school,5,female,white,yes,"
        f"none,no,no,no,2019-09-10,,continuing,\n" for i in range(40)))
    (folder / "wellbeing.csv").write_text(
        "response,participant,service,year,wave,date,instrument,age,"
        + ",".join(SWEMWBS_ITEMS) + "\n"
        + "".join(f"R{i},{p},essex,2019-20,baseline,2019-09-20,SWEMWBS,12,3,3,3,3,3,3,3\n"
                  for i, p in enumerate(["W9", " P3", "A2", "W8", "P1"])))
    ids = [" A2", "P5 ", "Z1", "P5", "", "A1", "P7", "  ", "Z2", "A2", "P30", "Z1"] * 6 + [
        f"P{i}" for i in range(39, -1, -1)]
    days = pd.date_range("2019-10-01", periods=len(ids)).strftime("%Y-%m-%d")
    rows = [f"{p},{day},yes\n" for p, day in zip(ids, days)]
    register = folder / "attendance"
    register.mkdir()
    size = -(-len(rows) // parts)
    for k in range(parts):
        chunk = rows[k * size:(k + 1) * size]
        if line_break and k == parts - 1:
            first, rest = chunk[0].split(",", 1)  # an id ending in a quoted line break
            chunk[0] = '"' + first + '\n",' + rest
        (register / f"part{k}.csv").write_text("participant,session_date,attended\n"
                                               + "".join(chunk))


@pytest.mark.parametrize("parts, line_break", [(1, False), (3, False), (3, True)])
def test_register_ids_hashed_with_the_participants_equal_unifying_them_first(
        tmp_path, monkeypatch, parts, line_break):
    """The register's ids, kept as the reader's block dictionaries and hashed once with the
    other tables' ids, give the same tables (categories in the same order, same codes,
    same problems) as making the register's categorical first, whatever the blocks."""
    _register_folder(tmp_path / "data", parts, line_break)
    monkeypatch.setattr(loaders, "_CSV_BLOCK", 200)  # many blocks, each with its dictionary
    with pytest.raises(loaders.DataValidationError) as fast:
        loaders.load_data(tmp_path / "data")
    fixed = tmp_path / "fixed"
    _register_folder(fixed, parts, line_break)
    for part in (fixed / "attendance").iterdir():  # drop the rows with unknown ids
        part.write_text("".join(line for line in part.read_text().splitlines(keepends=True)
                                if not line.startswith(("Z", "  ,", " ,", ","))))
    data = loaders.load_data(fixed)
    monkeypatch.setattr(loaders, "_id_headers", lambda names, table: set())  # not deferred
    with pytest.raises(loaders.DataValidationError) as plain:
        loaders.load_data(tmp_path / "data")
    pd.testing.assert_frame_equal(fast.value.problems, plain.value.problems)
    reference = loaders.load_data(fixed)
    for name in ("participants", "wellbeing", "attendance"):
        a, b = getattr(data, name), getattr(reference, name)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for column in a.columns:
            assert repr(a[column].dtype) == repr(b[column].dtype), column
    pd.testing.assert_frame_equal(data.warnings, reference.warnings)
    register = data.attendance["participant"]
    assert register.cat.categories is data.participants["participant"].cat.categories
    assert register.cat.categories.tolist()[:3] == ["A1", "A2", "P0"]
    assert register.cat.codes.dtype == reference.attendance["participant"].cat.codes.dtype


@pytest.mark.parametrize("parts", [1, 3])
def test_register_loaded_alone_or_without_participants_is_its_own_categorical(
        tmp_path, monkeypatch, parts):
    """Without participants to hash them with, the register's ids are made a categorical of
    its own ids (in order of first appearance), as when they were never deferred."""
    _register_folder(tmp_path / "data", parts)
    (tmp_path / "data" / "participants.csv").unlink()
    (tmp_path / "data" / "wellbeing.csv").unlink()
    for part in (tmp_path / "data" / "attendance").iterdir():  # blank ids are errors
        part.write_text("".join(line for line in part.read_text().splitlines(keepends=True)
                                if not line.startswith(("  ,", ","))))
    monkeypatch.setattr(loaders, "_CSV_BLOCK", 200)
    fast = loaders.load_data(tmp_path / "data").attendance
    alone = loaders.load_attendance(tmp_path / "data" / "attendance")
    monkeypatch.setattr(loaders, "_id_headers", lambda names, table: set())
    plain = loaders.load_data(tmp_path / "data").attendance
    for frame in (fast, alone):
        pd.testing.assert_frame_equal(frame.drop(columns="source_file"),
                                      plain.drop(columns="source_file"), check_exact=True)
        assert frame["participant"].cat.categories.dtype == pd.StringDtype("pyarrow")
    assert fast["participant"].cat.categories.tolist()[:4] == ["A2", "P5", "Z1", "A1"]
    assert fast["participant"].notna().all()


def test_integer_cells_parse_to_the_same_values_as_pandas_take():
    """Whole numbers built by numpy from each distinct text equal pandas' masked take."""
    col = next(c for c in TABLES["participants"].columns if c.name == "year_group")
    cells = pd.Series(["5", " ", "", "13", "x", "5", "6.0", "-1", "6"],
                      dtype="string[pyarrow]").str.strip().astype("category")
    values, bad = loaders._convert(col, cells)
    assert values.dtype == "Int64"
    expected = pd.array([5, pd.NA, pd.NA, 13, pd.NA, 5, 6, pd.NA, 6], dtype="Int64")
    parsed = [loaders._parse_unique(col, t) for t in cells.astype(str)]
    assert values.tolist() == list(expected) or values.equals(pd.Series(expected))
    assert bad.tolist() == [not ok for _, ok in parsed]


def test_register_with_no_rows_is_an_empty_categorical(tmp_path):
    _services(tmp_path)
    (tmp_path / "participants.csv").write_text(PARTICIPANTS)
    (tmp_path / "attendance.csv").write_text("participant,session_date,attended\n")
    register = loaders.load_data(tmp_path).attendance["participant"]
    assert len(register) == 0
    assert isinstance(register.dtype, pd.CategoricalDtype)
    assert register.cat.categories.dtype == pd.StringDtype("pyarrow")
