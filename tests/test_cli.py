"""The command line on the committed sample and on broken copies of it."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import pandas as pd

from changing_tracks.cli import main
from changing_tracks.contracts import TABLES
from changing_tracks.sample import generate, write_sample


def test_validate_sample_exits_zero_with_summary(sample_dir, capsys):
    assert main(["validate", str(sample_dir)]) == 0
    out = capsys.readouterr().out
    assert "are valid" in out and "participants" in out and "2019-20" in out
    assert "hertfordshire" in out


def test_validate_broken_copy_names_all_three_problems(sample_copy, capsys):
    wellbeing = (sample_copy / "wellbeing.csv").read_text(encoding="utf-8").split("\n")
    header = wellbeing[0].split(",")
    item = header.index("optimistic")
    service = header.index("service")
    participant = header.index("participant")
    cells = wellbeing[1].split(",")
    cells[item] = "6"
    wellbeing[1] = ",".join(cells)
    cells = wellbeing[2].split(",")
    cells[service] = "Hertfordshir"
    wellbeing[2] = ",".join(cells)
    participants = (sample_copy / "participants.csv").read_text(encoding="utf-8").split("\n")
    cells = participants[5].split(",")
    cells[0] = ""
    participants[5] = ",".join(cells)
    (sample_copy / "wellbeing.csv").write_text("\n".join(wellbeing), encoding="utf-8")
    (sample_copy / "participants.csv").write_text("\n".join(participants), encoding="utf-8")

    assert main(["validate", str(sample_copy)]) == 2
    err = capsys.readouterr().err
    assert "wellbeing.csv, row 2, column 'optimistic'" in err and "found '6'" in err
    assert "wellbeing.csv, row 3, column 'service'" in err and "Hertfordshir" in err
    assert "participants.csv, row 6, column 'participant'" in err and "blank" in err


def test_python_dash_m_entry_point(sample_dir):
    result = subprocess.run([sys.executable, "-m", "changing_tracks", "validate", str(sample_dir)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "are valid" in result.stdout


def test_sample_command_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert main(["sample", "--out", str(tmp_path / name), "--seed", "7", "--services", "2",
                     "--participants-per-service", "15"]) == 0
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert comparison.left_list == comparison.right_list
    assert not comparison.diff_files and not comparison.funny_files
    for sub in comparison.subdirs.values():
        assert not sub.diff_files


def test_sample_command_refuses_out_of_range_settings_in_plain_words(tmp_path, capsys):
    for option, value, said in (("--wellbeing-share", "0", "wellbeing_share must be a number "
                                 "above 0 and at most 1; found 0.0"),
                                ("--services", "0", "n_services must be a whole number")):
        assert main(["sample", "--out", str(tmp_path / "out"), option, value]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_committed_sample_equals_regeneration_from_its_seed(tmp_path, sample_dir):
    write_sample(tmp_path / "regen", seed=2020)
    regenerated = sorted(p.relative_to(tmp_path / "regen") for p in (tmp_path / "regen").rglob("*")
                         if p.is_file())
    committed = sorted(p.relative_to(sample_dir) for p in sample_dir.rglob("*") if p.is_file())
    assert regenerated == committed
    for rel in committed:
        assert (tmp_path / "regen" / rel).read_bytes() == (sample_dir / rel).read_bytes(), rel


def test_generate_load_validate_round_trip(sample_data):
    generated = generate(seed=2020)
    for name in TABLES:
        loaded = sample_data.table(name).reset_index(drop=True)
        expected = generated[name].reset_index(drop=True)
        # the loader keeps some id columns as categoricals (compact at scale): compare values
        for column in loaded.columns[loaded.dtypes == "category"]:
            loaded[column] = loaded[column].astype("string")
        if name == "audit_ratings":
            key = list(TABLES[name].key)
            loaded = loaded.sort_values(key).reset_index(drop=True)
            expected = expected.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(loaded, expected, check_dtype=False, obj=name)
    assert sample_data.warnings.empty


def test_dictionary_command_writes_file(tmp_path):
    out = tmp_path / "dd.md"
    assert main(["dictionary", "--out", str(out)]) == 0
    assert "## `wellbeing`" in out.read_text(encoding="utf-8")
