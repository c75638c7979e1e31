"""Tests for the synthetic sample generator (changing_tracks.sample)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from changing_tracks.contracts import (
    AUDIT_RATING_LABELS,
    CHARACTERISTICS,
    SWEMWBS_ITEMS,
    TABLES,
    WEMWBS_ITEMS,
)
from changing_tracks.sample import (
    BENCHMARK_SOURCE,
    LOCKDOWN,
    SAMPLE_COMMAND,
    _arrow_text_table,
    _csv_bytes_pandas,
    generate,
    write_sample,
)
from changing_tracks.workbook import SECTION_HEADERS, SECTION_SHEETS, workbook_file_name

PARTNERS = ("essex", "hertfordshire", "waltham-forest", "cornwall", "southampton",
            "cambridgeshire", "norfolk", "resonate")


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return generate()


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample_a")
    write_sample(out)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------
# Reproducibility and files
# --------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_files(written, tmp_path):
    write_sample(tmp_path / "b")
    first, second = _files(written), _files(tmp_path / "b")
    assert sorted(first) == sorted(second)
    assert len(first) > 20  # CSVs, README and the audit workbooks
    for name in first:
        assert first[name] == second[name], name


def test_different_seed_gives_different_data(written, tmp_path):
    write_sample(tmp_path / "c", seed=2021, n_services=3, audit_format="csv")
    other = generate(seed=2021, n_services=3)
    same = generate(seed=2020, n_services=3)
    assert not other["participants"].equals(same["participants"])
    assert not other["wellbeing"].equals(same["wellbeing"])
    assert (tmp_path / "c" / "participants.csv").read_bytes() != \
        (written / "participants.csv").read_bytes()


def test_written_files_and_layout(written):
    names = {p.name for p in written.iterdir()}
    assert names == {"services.csv", "audit_statements.csv", "wellbeing.csv",
                     "participants.csv", "attendance.csv", "outcome_indicators.csv",
                     "outcome_ratings.csv", "benchmarks.csv", "stages.csv", "tutors.csv",
                     "cpd.csv", "audit", "README.md"}
    assert not list(written.rglob(".*.tmp"))  # atomic writes leave no temporary files


def test_csv_conventions(written, sample):
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    for path in written.glob("*.csv"):
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), path.name
        assert b"\r" not in raw, path.name
        text = raw.decode("utf-8")
        for bad in (",nan,", ",NaN,", ",None,", "<NA>", ",NaT,"):
            assert bad not in text, (path.name, bad)
        header = text.split("\n", 1)[0].split(",")
        table = path.stem
        assert header == TABLES[table].names
    participants = pd.read_csv(written / "participants.csv", dtype=str, keep_default_na=False)
    assert participants["start"].str.match(iso).all()
    attendance = pd.read_csv(written / "attendance.csv", dtype=str, keep_default_na=False)
    assert attendance["session_date"].str.match(iso).all()
    assert set(attendance["attended"]) == {"yes", "no"}
    assert participants["end"].isin([""]).any()
    assert participants.loc[participants["end"] != "", "end"].str.match(iso).all()
    for col in ("fsm", "looked_after", "young_carer", "eal"):
        assert set(participants[col]) == {"yes", "no", ""}, col
    bench = pd.read_csv(written / "benchmarks.csv", dtype=str)
    assert bench["share"].str.match(r"^0\.\d{3}$").all()
    services = pd.read_csv(written / "services.csv", dtype=str, keep_default_na=False)
    assert services["service"].tolist() == list(PARTNERS)  # quoted focus text reads back
    assert services["focus"].tolist() == sample["services"]["focus"].tolist()


def test_arrow_and_pandas_csv_writers_agree(written, sample):
    # the fast Arrow path (no quoting needed) must write what pandas would
    frame = sample["participants"]
    expected = (written / "participants.csv").read_bytes()
    assert _csv_bytes_pandas(_arrow_text_table(frame)) == expected


def test_readme_says_synthetic_and_how_made(written):
    text = (written / "README.md").read_text(encoding="utf-8")
    assert SAMPLE_COMMAND in text
    assert SAMPLE_COMMAND == "python -m changing_tracks sample --out data/sample --seed 2020"
    for phrase in ("synthetic", "illustrative, not the partners' real results",
                   "not Youth Music's wording", "Illustrative figures near the national rates",
                   "outside the scales' validated age range", "copyright"):
        assert phrase in text, phrase


def test_audit_csv_format_and_switching(tmp_path):
    out = tmp_path / "s"
    write_sample(out, n_services=2, participants_per_service=12)
    assert list((out / "audit").glob("*.xlsx"))
    write_sample(out, n_services=2, participants_per_service=12, audit_format="csv")
    assert not list((out / "audit").glob("*.xlsx"))  # one copy of the audit only
    audit = pd.read_csv(out / "audit_ratings.csv", dtype=str, keep_default_na=False)
    assert list(audit.columns) == TABLES["audit_ratings"].names
    na = audit["status"] == "not applicable"
    assert na.any() and (audit.loc[na, "rating"] == "N/A").all()
    assert (audit.loc[audit["status"] == "not rated", "rating"] == "").all()
    assert audit.loc[audit["status"] == "rated", "rating"].isin(["1", "2", "3"]).all()
    write_sample(out, n_services=2, participants_per_service=12)
    assert not (out / "audit_ratings.csv").exists()


def test_invalid_arguments_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        generate(seed=-1)
    with pytest.raises(ValueError, match="n_services"):
        generate(n_services=0)
    with pytest.raises(ValueError, match="participants_per_service"):
        generate(participants_per_service=0)
    with pytest.raises(ValueError, match="sessions_per_participant"):
        generate(sessions_per_participant=1.5)
    for share in (0, 1.5, True, "half"):
        with pytest.raises(ValueError, match="wellbeing_share"):
            generate(wellbeing_share=share)
    with pytest.raises(ValueError, match="audit_format"):
        write_sample(tmp_path, audit_format="pdf")


# --------------------------------------------------------------------------
# Contracts
# --------------------------------------------------------------------------

def test_tables_have_exactly_the_contract_columns(sample):
    assert tuple(sample) == tuple(TABLES)
    for name, frame in sample.items():
        assert list(frame.columns) == TABLES[name].names, name


def test_values_within_contracts(sample):
    for name, frame in sample.items():
        for col in TABLES[name].columns:
            values = frame[col.name]
            present = values.dropna()
            if not col.nullable and col.required:
                assert values.notna().all(), (name, col.name)
            if col.allowed and col.kind == "list":
                parts = {v for cell in present for v in str(cell).split("; ")}
                assert parts <= set(col.allowed), (name, col.name, parts - set(col.allowed))
            elif col.allowed:
                assert set(present) <= set(col.allowed), (name, col.name,
                                                          set(present) - set(col.allowed))
            if col.minimum is not None and len(present):
                assert present.min() >= col.minimum, (name, col.name)
            if col.maximum is not None and len(present):
                assert present.max() <= col.maximum, (name, col.name)
            if col.kind == "date":
                assert pd.api.types.is_datetime64_any_dtype(values), (name, col.name)
            elif col.kind == "boolean":
                assert isinstance(values.dtype, pd.BooleanDtype), (name, col.name)
            elif col.kind in ("integer", "rating"):
                assert str(values.dtype) == "Int64", (name, col.name)
            elif col.kind in ("id", "text", "category", "year"):
                assert isinstance(values.dtype, pd.StringDtype), (name, col.name)


def test_keys_are_unique(sample):
    for name, frame in sample.items():
        key = list(TABLES[name].key)
        assert not frame.duplicated(key).any(), name


def test_linked_rows_exist_in_participants(sample):
    people = sample["participants"][["participant", "service", "year"]]
    for name in ("wellbeing", "outcome_ratings"):
        linked = sample[name][["participant", "service", "year"]].drop_duplicates()
        merged = linked.merge(people, how="left", indicator=True)
        assert (merged["_merge"] == "both").all(), name
    assert set(sample["attendance"]["participant"]) <= set(people["participant"])
    assert set(sample["audit_ratings"]["statement"]) == set(sample["audit_statements"]["statement"])
    assert set(sample["outcome_ratings"]["indicator"]) <= set(
        sample["outcome_indicators"]["indicator"])
    las = set(sample["services"]["local_authority"])
    assert las == set(sample["benchmarks"]["local_authority"])


# --------------------------------------------------------------------------
# Services and participants
# --------------------------------------------------------------------------

def test_services_are_the_report_partners(sample):
    services = sample["services"].set_index("service")
    assert tuple(services.index) == PARTNERS
    cohort = services["cohort"].to_dict()
    assert cohort["cornwall"] == cohort["southampton"] == 2019
    assert all(cohort[s] == 2018 for s in PARTNERS if s not in ("cornwall", "southampton"))
    lookup = {a.strip().lower(): s for s, aliases in services["aliases"].items()
              for a in aliases.split(";")}
    assert lookup["herts"] == "hertfordshire"
    assert lookup["liverpool"] == "resonate"
    assert services.loc["resonate", "local_authority"] == "Liverpool"
    assert services["region"].notna().all() and services["focus"].notna().all()


def test_programme_years_and_sizes(sample):
    p = sample["participants"]
    sizes = p.groupby(["service", "year"]).size()
    assert sizes.between(12, 60).all()
    assert set(p.loc[p["service"].isin(["cornwall", "southampton"]), "year"]) == {"2019-20"}
    assert set(p["year"]) == {"2018-19", "2019-20"}
    assert sizes.nunique() > 4  # sizes vary by service
    # some young people continue from 2018-19 with the same id
    both = p.groupby("participant")["year"].nunique()
    assert 5 <= (both == 2).sum() <= 80
    assert p["participant"].str.match(r"^[A-Z]{3}-\d{4}$").all()
    assert p.loc[p["service"] == "hertfordshire", "participant"].str.startswith("HER-").all()


def test_participants_per_service_override_and_extra_services():
    data = generate(n_services=10, participants_per_service=15, attendance=False)
    services = data["services"]
    assert services["service"].tolist()[-2:] == ["service-009", "service-010"]
    assert services["name"].tolist()[-2:] == ["Service 009", "Service 010"]
    assert services["local_authority"].tolist()[-1] == "Local Authority 010"
    assert (data["participants"].groupby(["service", "year"]).size() == 15).all()
    assert len(data["attendance"]) == 0
    areas = set(data["benchmarks"]["local_authority"])
    assert {"Local Authority 009", "Local Authority 010"} <= areas
    small = generate(n_services=3)
    assert small["services"]["service"].tolist() == list(PARTNERS[:3])


def test_streams_are_independent_across_services_and_tables(sample):
    few = generate(n_services=3, attendance=False, outcomes=False)
    first = sample["participants"]["service"].isin(PARTNERS[:3])
    pd.testing.assert_frame_equal(few["participants"],
                                  sample["participants"][first].reset_index(drop=True))
    wb = sample["wellbeing"]["service"].isin(PARTNERS[:3])
    pd.testing.assert_frame_equal(few["wellbeing"], sample["wellbeing"][wb].reset_index(drop=True))
    assert len(few["outcome_ratings"]) == 0 and len(few["outcome_indicators"]) == 12


def test_dates_statuses_and_lockdown(sample):
    p = sample["participants"]
    start_year = p["year"].str[:4].astype(int)
    sept = pd.to_datetime(start_year.astype(str) + "-09-01")
    aug = pd.to_datetime((start_year + 1).astype(str) + "-08-31")
    assert (p["start"] >= sept).all() and (p["start"] <= aug).all()
    ended = p["end"].notna()
    assert (p.loc[ended, "end"] >= p.loc[ended, "start"]).all()
    assert (p.loc[ended, "end"] <= aug[ended]).all()
    assert (p.loc[p["status"] == "active", "end"].isna()).all()
    assert p.loc[p["status"] != "active", "end"].notna().all()
    share = pd.crosstab(p["year"], p["status"], normalize="index")
    assert share.loc["2019-20", "withdrew"] > share.loc["2018-19", "withdrew"]
    assert share.loc["2019-20", "active"] > share.loc["2018-19", "active"] + 0.1
    lockdown = pd.Timestamp(LOCKDOWN)
    assert (p.loc[p["year"] == "2019-20", "start"] < lockdown).all()
    completed = p["status"] == "completed"
    routes = p.loc[completed, "progression"].value_counts()
    assert {"lessons", "ensemble", "music centre", "none"} <= set(routes.index)
    assert p.loc[p["status"] == "withdrew", "progression"].dropna().eq("none").all()


def test_activities_settings_and_year_groups(sample):
    p = sample["participants"]
    assert (p.groupby("service")["activity"].nunique() >= 2).all()
    assert p["activity"].nunique() >= 6 and p["setting"].nunique() == 5
    yg = p["year_group"]
    primary = p["setting"] == "primary school"
    secondary = p["setting"] == "secondary school"
    assert yg[primary].dropna().between(0, 6).all()
    assert yg[secondary].dropna().between(7, 13).all()
    assert yg.isna().any() and yg.dropna().max() >= 12


def test_characteristic_rates_are_plausible(sample):
    p = sample["participants"]
    fsm = p["fsm"].astype("Float64")
    assert 0.28 < fsm.mean() < 0.6  # over the national 24.6%: targeted projects
    assert fsm[p["setting"] == "alternative provision"].mean() > \
        fsm[p["activity"] == "whole class ensemble teaching"].mean() + 0.15
    sen = p["sen"].value_counts(normalize=True)
    assert 0.14 < sen["sen support"] < 0.4 and 0.04 < sen["ehc plan"] < 0.2
    assert (p.loc[p["setting"] == "special school", "sen"] == "ehc plan").mean() > 0.5
    for col, lo, hi in (("looked_after", 0.005, 0.06), ("young_carer", 0.02, 0.12),
                        ("eal", 0.08, 0.35)):
        rate = p[col].astype("Float64").mean()
        assert lo < rate < hi, (col, rate)
    assert p["sex"].value_counts(normalize=True)["male"] > 0.5  # boys in targeted work
    white = (p["ethnicity"] == "white").groupby(p["service"]).mean()
    assert white["waltham-forest"] < 0.6 < 0.85 < white["cornwall"]
    for col in ("sex", "ethnicity", "fsm", "sen", "looked_after", "young_carer", "eal"):
        assert p[col].isna().any(), col  # some not recorded


# --------------------------------------------------------------------------
# Attendance
# --------------------------------------------------------------------------

def test_attendance_sessions_within_start_and_end(sample):
    p = sample["participants"]
    a = sample["attendance"].copy()
    start_year = np.where(a["session_date"].dt.month >= 9, a["session_date"].dt.year,
                          a["session_date"].dt.year - 1)
    a["year"] = [f"{y}-{str(y + 1)[-2:]}" for y in start_year]
    merged = a.merge(p[["participant", "year", "start", "end"]], how="left")
    assert merged["start"].notna().all()
    assert (merged["session_date"] >= merged["start"]).all()
    ended = merged["end"].notna()
    assert (merged.loc[ended, "session_date"] <= merged.loc[ended, "end"]).all()
    assert not (a["session_date"] >= pd.Timestamp(LOCKDOWN)).any()
    per = a.groupby(["participant", "year"]).size()
    assert per.min() >= 1 and 10 <= per.median() <= 30
    assert 0.7 < a["attended"].mean() < 0.92
    first = merged.sort_values("session_date").groupby(["participant", "year"]).first()
    assert (first["session_date"] == first["start"]).all()
    assert first["attended"].all()
    assert len(per) == len(p)  # everyone was offered sessions


def test_sessions_per_participant_caps_the_register():
    data = generate(n_services=3, participants_per_service=20, sessions_per_participant=5,
                    outcomes=False)
    counts = data["attendance"].assign(
        y=lambda d: np.where(d["session_date"].dt.month >= 9, d["session_date"].dt.year,
                             d["session_date"].dt.year - 1)).groupby(["participant", "y"]).size()
    assert counts.max() == 5 and counts.median() == 5


# --------------------------------------------------------------------------
# Wellbeing
# --------------------------------------------------------------------------

def test_wellbeing_share_thins_the_questionnaires_and_nothing_else():
    kwargs = dict(n_services=4, participants_per_service=400, attendance=False, outcomes=False)
    full = generate(**kwargs)
    half = generate(**kwargs, wellbeing_share=0.5)
    # the same draws, fewer asked: the half set's questionnaires are the full set's
    assert 0.4 < len(half["wellbeing"]) / len(full["wellbeing"]) < 0.6
    kept = full["wellbeing"].set_index(["participant", "year", "wave"]).loc[
        half["wellbeing"].set_index(["participant", "year", "wave"]).index]
    answers = ["date", "instrument", "age", *WEMWBS_ITEMS]
    pd.testing.assert_frame_equal(kept[answers].reset_index(drop=True),
                                  half["wellbeing"][answers].reset_index(drop=True))
    pd.testing.assert_frame_equal(full["participants"], half["participants"])
    pd.testing.assert_frame_equal(full["wellbeing"], generate(**kwargs, wellbeing_share=1.0)[
        "wellbeing"])


def _paired(w: pd.DataFrame) -> pd.DataFrame:
    return w.pivot_table(index=["participant", "year"], columns="wave", values="date",
                         aggfunc="first")


def test_wellbeing_follow_up_after_baseline_and_ages(sample):
    w = sample["wellbeing"]
    dates = _paired(w).dropna()
    assert len(dates) > 50
    assert (dates["follow-up"] > dates["baseline"]).all()
    # a follow-up only with a baseline, one questionnaire per wave
    assert not w.duplicated(["participant", "year", "wave"]).any()
    assert set(w.loc[w["wave"] == "follow-up", "participant"]) <= \
        set(w.loc[w["wave"] == "baseline", "participant"])
    assert w["age"].between(9, 18).all()
    assert (w["age"] <= 10).sum() >= 10  # primary-age respondents, flagged later
    assert w["response"].is_unique
    assert set(w["instrument"]) == {"WEMWBS", "SWEMWBS"}
    primary = w["age"] <= 10
    assert (w.loc[primary, "instrument"] == "SWEMWBS").any()


def test_wellbeing_items_and_scores(sample):
    w = sample["wellbeing"]
    others = [k for k in WEMWBS_ITEMS if k not in SWEMWBS_ITEMS]
    sw = w["instrument"] == "SWEMWBS"
    assert w.loc[sw, others].isna().all().all()
    answered = w[list(WEMWBS_ITEMS)].notna().sum(axis=1)
    expected = np.where(sw, 7, 14)
    missing = expected - answered
    assert missing.between(0, 2).all()
    assert 3 <= (missing > 0).sum() <= 30  # a few partly answered
    full = w[(w["instrument"] == "WEMWBS") & (missing == 0)]
    total = full[list(WEMWBS_ITEMS)].sum(axis=1).astype(float)
    base = total[full["wave"] == "baseline"]
    assert 42 < base.mean() < 49 and 6 < base.std() < 10
    # items correlate within person: Cronbach's alpha of a believable size
    items = full[list(WEMWBS_ITEMS)].astype(float).to_numpy()
    k = items.shape[1]
    alpha = k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / items.sum(axis=1).var(ddof=1))
    assert 0.8 < alpha < 0.95
    # modest average improvement with individual noise
    tot = full.assign(total=total).pivot_table(index=["participant", "year"], columns="wave",
                                              values="total").dropna()
    change = tot["follow-up"] - tot["baseline"]
    assert 0.5 < change.mean() < 4 and change.std() > 3 and (change < 0).any()


def test_wellbeing_lockdown_losses_vary_by_service(sample):
    w = sample["wellbeing"]
    counts = w.groupby(["service", "year", "wave"]).size().unstack()
    lost = 1 - counts["follow-up"] / counts["baseline"]
    assert lost.xs("2019-20", level="year").mean() > lost.xs("2018-19", level="year").mean()
    recent = lost.xs("2019-20", level="year")
    assert recent.max() - recent.min() > 0.2 and recent.max() > 0.5
    assert "norfolk" not in set(w["service"])  # a service that does not use WEMWBS


# --------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------

def test_outcome_indicators_and_ratings(sample):
    ind = sample["outcome_indicators"]
    assert ind["domain"].value_counts().to_dict() == {"personal": 4, "social": 4, "musical": 4}
    assert ind["indicator"].str.match(r"^[PSM][1-4]$").all()
    assert "Keeps a steady pulse" in set(ind["text"])
    o = sample["outcome_ratings"].merge(ind[["indicator", "domain"]])
    assert o["rater"].str.match(r"^Tutor \d+$").all()
    means = o.groupby("wave")["rating"].mean()
    assert means["baseline"] + 0.3 < means["follow-up"] < means["baseline"] + 1.2
    assert set(o["wave"]) == {"baseline", "interim", "follow-up"}
    waves = o.groupby(["participant", "year", "wave"])["date"].first().unstack()
    both = waves.dropna(subset=["baseline", "follow-up"])
    assert (both["follow-up"] > both["baseline"]).all()
    mid = waves.dropna(subset=["baseline", "interim"])
    assert (mid["interim"] > mid["baseline"]).all()
    # most participants rated; fewer follow-ups in 2019-20 (lockdown)
    rated = o[["participant", "year"]].drop_duplicates()
    assert len(rated) > 0.6 * len(sample["participants"])
    people = o.groupby(["year", "wave"])["participant"].nunique().unstack()
    ratio = people["follow-up"] / people["baseline"]
    assert ratio["2019-20"] < ratio["2018-19"]
    # musical outcomes rated more consistently than personal/social in some services
    by = o.groupby(["service", "domain"]).size().unstack()
    assert ((by["musical"] / by[["personal", "social"]].mean(axis=1)) > 1.3).sum() >= 2


# --------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------

def test_audit_statements(sample):
    st = sample["audit_statements"]
    assert len(st) == 61
    assert st["section"].value_counts().sort_index().tolist() == [20, 20, 21]
    assert st["statement"].str.match(r"^[123]\.\d{2}$").all()
    assert st["text"].is_unique and st["text"].str.len().gt(30).all()


def test_audit_ratings_waves_raters_and_change(sample):
    a = sample["audit_ratings"]
    raters = a.groupby(["service", "wave"])["rater"].nunique()
    assert raters.between(2, 4).all() and raters.nunique() >= 2
    assert set(a.loc[a["wave"] == "baseline", "service"]) == set(PARTNERS)
    followed = set(a.loc[a["wave"] == "follow-up", "service"])
    assert len(followed) == len(PARTNERS) - 1  # one service has no follow-up yet
    base = a.loc[a["wave"] == "baseline", "date"]
    assert ((base.dt.year == 2019) & (base.dt.month == 7)).all()
    follow = a.loc[a["wave"] == "follow-up", "date"]
    assert ((follow.dt.year == 2020) & follow.dt.month.isin([7, 9])).all()
    assert set(follow.dt.month) == {7, 9}
    assert (a.groupby(["service", "wave", "rater"])["date"].nunique() == 1).all()
    counts = a["status"].value_counts(normalize=True)
    assert 0.005 < counts["not rated"] < 0.05 and 0.005 < counts["not applicable"] < 0.05
    assert a.loc[a["status"] == "rated", "rating"].notna().all()
    assert a.loc[a["status"] != "rated", "rating"].isna().all()
    assert a["comment"].notna().mean() > 0.05
    # improvement by section, and occasional two-point disagreement
    st = sample["audit_statements"][["statement", "section"]]
    m = a.merge(st).groupby(["wave", "section"])["rating"].mean().unstack()
    assert (m.loc["follow-up"] > m.loc["baseline"] + 0.1).all()
    spread = a.groupby(["service", "wave", "statement"])["rating"].agg(lambda r: r.max() - r.min())
    assert 0 < (spread == 2).mean() < 0.05 and (spread == 0).mean() > 0.3


def test_audit_workbooks_have_the_youth_music_layout(written, sample):
    from openpyxl import load_workbook

    a = sample["audit_ratings"]
    groups = a.groupby(["service", "wave", "rater"], sort=False)
    files = sorted(p.name for p in (written / "audit").glob("*.xlsx"))
    assert files == sorted(workbook_file_name(*k) for k in groups.groups)
    words = {v: k for k, v in AUDIT_RATING_LABELS.items()}
    styles = set()
    checked = 0
    for key in [("hertfordshire", "follow-up"), ("essex", "baseline")]:
        rater = a.loc[(a["service"] == key[0]) & (a["wave"] == key[1]), "rater"].iloc[0]
        part = groups.get_group((*key, rater)).set_index("statement")
        wb = load_workbook(written / "audit" / workbook_file_name(*key, rater))
        assert wb.sheetnames == ["Summary", *SECTION_SHEETS.values()]
        summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True) if r[0]}
        assert summary["Completed by:"] == rater and summary["Wave:"] == key[1]
        if key[0] == "hertfordshire":
            assert summary["Organisation:"] == "Herts"  # an alias, as people write it
        for sheet in SECTION_SHEETS.values():
            rows = list(wb[sheet].iter_rows(values_only=True))
            assert tuple(rows[3][:4]) == SECTION_HEADERS
            for ref, _text, rating, _comment in (r[:4] for r in rows[4:] if r[0]):
                status = part.loc[ref, "status"]
                if status == "not applicable":
                    assert rating == "N/A"
                elif status == "not rated":
                    assert rating is None
                else:
                    value = part.loc[ref, "rating"]
                    assert rating in (value, words[value])
                    styles.add(type(rating))
                checked += 1
    assert checked == 2 * 61
    assert styles == {int, str}  # numbers in some services' workbooks, words in others


# --------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------

def test_benchmarks_cover_every_area_phase_and_characteristic(sample):
    b = sample["benchmarks"]
    assert len(b) == 8 * 3 * len(CHARACTERISTICS)
    assert set(b["phase"]) == {"primary", "secondary", "all"}
    assert set(b["characteristic"]) == set(CHARACTERISTICS)
    assert (b["source"] == BENCHMARK_SOURCE).all() and (b["source_year"] == "2023/24").all()
    wide = b.pivot_table(index=["local_authority", "phase"], columns="characteristic",
                         values="share")
    assert np.allclose(wide["sex_female"] + wide["sex_male"], 1.0)
    eth = wide[[f"ethnicity_{g}" for g in ("asian", "black", "mixed", "white", "other")]]
    assert (eth.sum(axis=1) <= 1.0 + 1e-9).all() and (eth.sum(axis=1) > 0.95).all()
    national = wide.xs("all", level="phase")
    assert abs(national["fsm"].mean() - 0.246) < 0.05
    assert abs(national["sen_support"].mean() - 0.136) < 0.02
    assert abs(national["ehc_plan"].mean() - 0.048) < 0.01
    assert national.loc["Waltham Forest", "ethnicity_white"] < 0.5
    assert national.loc["Cornwall", "ethnicity_white"] > 0.9


# --------------------------------------------------------------------------
# Scale
# --------------------------------------------------------------------------

def test_medium_scale_is_quick():
    started = time.perf_counter()
    data = generate(n_services=20, participants_per_service=2000)
    elapsed = time.perf_counter() - started
    p = data["participants"]
    assert len(p) == (p.groupby(["service", "year"]).size() == 2000).sum() * 2000
    assert p["service"].nunique() == 20 and p.duplicated(["participant", "year"]).sum() == 0
    assert len(data["attendance"]) > 10 * len(p)
    assert p.loc[p["service"] == "service-020", "participant"].str.match(r"^S020-\d{4}$").all()
    assert elapsed < 30, f"20 services × 2,000 participants took {elapsed:.1f} s"
