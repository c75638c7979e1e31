"""Problems found in input data, collected so that all are reported at once.

A problem names the file (and sheet), the row as the user sees it in Excel or
a text editor, the column as written in the file, the value found and what
was expected. Errors stop the analysis; warnings are reported and kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["DataValidationError", "ProblemLog", "PROBLEM_COLUMNS", "format_problems"]

#: Columns of every problems table.
PROBLEM_COLUMNS = ("severity", "file", "sheet", "row", "column", "value", "expected", "message")


class DataValidationError(ValueError):
    """The data cannot be analysed as they stand.

    ``.problems`` is a DataFrame with one row per problem (columns
    ``PROBLEM_COLUMNS``); ``str(error)`` lists them in plain English.
    """

    def __init__(self, problems: pd.DataFrame, source: str | None = None):
        self.problems = problems.reset_index(drop=True)
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        errors = self.problems[self.problems["severity"] == "error"]
        where = f" in {self.source}" if self.source else ""
        head = f"{len(errors)} problem{'s' if len(errors) != 1 else ''} found{where}:"
        return head + "\n" + format_problems(self.problems)


def format_problems(problems: pd.DataFrame, limit: int | None = 200) -> str:
    """One readable line per problem, errors first."""
    if problems.empty:
        return "  (none)"
    order = problems.assign(_e=problems["severity"] != "error").sort_values(
        ["_e", "file", "sheet", "row"], kind="stable", na_position="first")
    lines = []
    for rec in order.head(limit).itertuples(index=False):
        place = [str(rec.file)] if _present(rec.file) else []
        if _present(rec.sheet):
            place.append(f"sheet '{rec.sheet}'")
        if _present(rec.row):
            place.append(f"row {int(rec.row)}")
        if _present(rec.column):
            place.append(f"column '{rec.column}'")
        text = f"  - {rec.severity.upper()}: {', '.join(place)}: {rec.message}"
        if _present(rec.value):
            text += f" (found {rec.value!r}"
            text += f"; expected {rec.expected})" if _present(rec.expected) else ")"
        elif _present(rec.expected):
            text += f" (expected {rec.expected})"
        lines.append(text)
    if limit is not None and len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit} more (see .problems for the full list)")
    return "\n".join(lines)


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value)) \
        and value is not pd.NA and str(value) != ""


@dataclass
class ProblemLog:
    """Accumulates problems from every file before anything is raised."""

    rows: list[dict] = field(default_factory=list)
    frames: list[pd.DataFrame] = field(default_factory=list)
    #: (file, contract column) → the header as written in that file, so that
    #: problems found after loading still name the user's own column.
    headers: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, message: str, *, file=None, sheet=None, row=None, column=None, value=None,
            expected=None, severity: str = "error") -> None:
        self.rows.append({"severity": severity, "file": file, "sheet": sheet, "row": row,
                          "column": column, "value": value, "expected": expected,
                          "message": message})

    def add_rows(self, frame: pd.DataFrame, *, message: str, column, expected=None,
                 severity: str = "error", value_column: str | None = None) -> None:
        """One problem per row of ``frame`` (which has ``source_file``/``source_row``), vectorised."""
        if frame.empty:
            return
        values = frame[value_column] if value_column else None
        files = frame["source_file"].astype(object).to_numpy() if "source_file" in frame else None
        if files is not None and self.headers:
            column = [self.headers.get((f, column), column) for f in files]
        block = pd.DataFrame({
            "severity": severity,
            "file": files,
            "sheet": frame["source_sheet"].astype(object).to_numpy() if "source_sheet" in frame
            else None,
            "row": frame["source_row"].to_numpy() if "source_row" in frame else None,
            "column": column,
            "value": values.astype(object).to_numpy() if values is not None else None,
            "expected": expected,
            "message": message,
        })
        self.frames.append(block)

    def extend(self, problems: pd.DataFrame) -> None:
        if not problems.empty:
            self.frames.append(problems.reindex(columns=PROBLEM_COLUMNS))

    def merge(self, other: ProblemLog) -> None:
        """Take in the problems (and headers) collected in ``other``, as if logged here."""
        self.rows += other.rows
        self.frames += other.frames
        self.headers.update(other.headers)

    def frame(self) -> pd.DataFrame:
        parts = [pd.DataFrame(self.rows, columns=list(PROBLEM_COLUMNS))] if self.rows else []
        parts += [f.reindex(columns=PROBLEM_COLUMNS) for f in self.frames]
        if not parts:
            return pd.DataFrame(columns=list(PROBLEM_COLUMNS))
        out = pd.concat([p.astype(object) for p in parts], ignore_index=True)
        return out

    @property
    def has_errors(self) -> bool:
        return any(r["severity"] == "error" for r in self.rows) or any(
            (f["severity"] == "error").any() for f in self.frames)

    def raise_if_errors(self, source: str | None = None) -> None:
        if self.has_errors:
            raise DataValidationError(self.frame(), source)
