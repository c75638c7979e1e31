"""The contracts are the single source: the data dictionary and environment.yml follow them."""

from __future__ import annotations

import re
import tomllib

import pytest

from changing_tracks.contracts import (
    SWEMWBS_ITEMS,
    TABLES,
    WEMWBS_ITEMS,
    normalise_header,
    programme_year,
)
from changing_tracks.dictionary import data_dictionary

from .conftest import REPO


def test_data_dictionary_is_current():
    committed = (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert committed == data_dictionary(), (
        "docs/data-dictionary.md is stale: run `make dictionary` and commit it")


def _names(requirements):
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower().replace("_", "-")
            for r in requirements if r.strip()}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"]) | _names(project["optional-dependencies"]["test"])
    env_text = (REPO / "environment.yml").read_text()
    env_lines = env_text.split("dependencies:", 1)[1].splitlines()
    deps = [line.strip()[2:] for line in env_lines if line.strip().startswith("- ")]
    listed = _names(deps) - {"python", "pip"}
    assert listed == wanted


def test_swemwbs_items_are_wemwbs_1_2_3_6_7_9_11():
    assert SWEMWBS_ITEMS == tuple(WEMWBS_ITEMS[i - 1] for i in (1, 2, 3, 6, 7, 9, 11))
    assert len(WEMWBS_ITEMS) == 14


def test_header_spellings_are_unambiguous_within_each_table():
    for table in TABLES.values():
        seen = {}
        for col in table.columns:
            for spelling in col.header_spellings:
                if spelling in seen and spelling != normalise_header(col.name):
                    pytest.fail(f"{table.name}: header {spelling!r} names both "
                                f"{seen[spelling]} and {col.name}")
                seen.setdefault(spelling, col.name)


@pytest.mark.parametrize("text,expected", [("2019-20", "2019-20"), ("2019/20", "2019-20"),
                                           ("2019-2020", "2019-20"), ("1999-00", "1999-00"),
                                           ("2019-21", None), ("2019", None)])
def test_programme_year(text, expected):
    assert programme_year(text) == expected
