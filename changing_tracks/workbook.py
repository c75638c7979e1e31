"""The Youth Music ED&I self-assessment workbook layout: writing and reading.

One ``.xlsx`` per service, wave and rater. A ``Summary`` sheet holds the
details (organisation, who completed it, when, which wave) and section totals;
one sheet per section (``Section 1`` … ``Section 3``) lists the statements
with columns for reference, statement, rating and comments/evidence, under a
few title rows and with blank rows between groups of statements.

The summary totals are cross-checked against the ratings when read, never
trusted: the ratings are the data.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from .contracts import AUDIT_RATING_LABELS, AUDIT_SECTIONS

__all__ = [
    "SUMMARY_SHEET",
    "SECTION_SHEETS",
    "DETAIL_LABELS",
    "SECTION_HEADERS",
    "write_audit_workbook",
    "workbook_file_name",
]

SUMMARY_SHEET = "Summary"
SECTION_SHEETS: dict[int, str] = {s: f"Section {s}" for s in AUDIT_SECTIONS}
#: Labels in column A of the summary sheet, with the detail each names.
DETAIL_LABELS: dict[str, str] = {
    "Organisation:": "service",
    "Completed by:": "rater",
    "Date completed:": "date",
    "Wave:": "wave",
}
SECTION_HEADERS: tuple[str, ...] = ("Ref", "Statement", "Rating", "Comments / evidence")
_RATING_WORDS = {v: k for k, v in AUDIT_RATING_LABELS.items()}
_FIXED_TIME = datetime(2020, 1, 1)


def workbook_file_name(service: str, wave: str, rater: str) -> str:
    """File name for one rater's workbook, e.g. ``hertfordshire_baseline_inclusion-lead.xlsx``."""
    slug = "".join(c if c.isalnum() else "-" for c in rater.lower()).strip("-")
    return f"{service}_{wave}_{slug}.xlsx"


def write_audit_workbook(
    path: str | Path,
    ratings: pd.DataFrame,
    statements: pd.DataFrame,
    *,
    organisation: str,
    rater: str,
    wave: str,
    completed: date | None,
    rating_style: str = "number",
    blank_row_every: int = 7,
) -> Path:
    """Write one rater's audit as a workbook in the Youth Music layout.

    ``ratings`` has columns ``statement``, ``rating`` (1-3 or missing), ``status``
    ("rated", "not rated", "not applicable") and optionally ``comment``;
    ``statements`` has ``statement``, ``section`` and ``text``. ``rating_style``
    "number" writes 1/2/3, "words" writes "Not met"/"Partially met"/"Fully met".
    The file is byte-for-byte reproducible: workbook and zip timestamps are fixed.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path = Path(path)
    merged = statements.merge(ratings, on="statement", how="left")
    wb = Workbook()
    summary = wb.active
    summary.title = SUMMARY_SHEET
    summary["A1"] = "Youth Music Equality, Diversity and Inclusion self-assessment tool"
    summary["A1"].font = Font(bold=True, size=14)
    details = {"service": organisation, "rater": rater, "date": completed, "wave": wave}
    for row, (label, key) in enumerate(DETAIL_LABELS.items(), start=3):
        summary.cell(row=row, column=1, value=label)
        cell = summary.cell(row=row, column=2, value=details[key])
        if key == "date" and completed is not None:
            cell.number_format = "DD/MM/YYYY"
    header_row = 3 + len(DETAIL_LABELS) + 1
    for col, text in enumerate(("Section", "Score", "Out of"), start=1):
        summary.cell(row=header_row, column=col, value=text).font = Font(bold=True)
    total_score = total_max = 0
    for i, (section, title) in enumerate(AUDIT_SECTIONS.items(), start=1):
        part = merged[merged["section"] == section]
        rated = part[part["status"] == "rated"]
        score = int(rated["rating"].sum())
        maximum = 3 * len(part)
        summary.cell(row=header_row + i, column=1, value=f"{section}. {title}")
        summary.cell(row=header_row + i, column=2, value=score)
        summary.cell(row=header_row + i, column=3, value=maximum)
        total_score += score
        total_max += maximum
    total_row = header_row + len(AUDIT_SECTIONS) + 1
    summary.cell(row=total_row, column=1, value="Total").font = Font(bold=True)
    summary.cell(row=total_row, column=2, value=total_score)
    summary.cell(row=total_row, column=3, value=total_max)
    summary.column_dimensions["A"].width = 52

    for section, title in AUDIT_SECTIONS.items():
        ws = wb.create_sheet(SECTION_SHEETS[section])
        ws["A1"] = f"Section {section}: {title}"
        ws["A1"].font = Font(bold=True, size=12)
        ws["A2"] = ("Rate each statement: 1 = not met, 2 = partially met, 3 = fully met; "
                    "N/A = not applicable; leave blank if not rated.")
        for col, text in enumerate(SECTION_HEADERS, start=1):
            ws.cell(row=4, column=col, value=text).font = Font(bold=True)
        row = 5
        part = merged[merged["section"] == section].sort_values("statement")
        for k, rec in enumerate(part.itertuples(index=False)):
            if k and blank_row_every and k % blank_row_every == 0:
                row += 1  # blank row between groups, as in the real tool
            ws.cell(row=row, column=1, value=str(rec.statement))
            ws.cell(row=row, column=2, value=str(rec.text))
            status = getattr(rec, "status", "not rated")
            if status == "rated":
                value = int(rec.rating)
                ws.cell(row=row, column=3,
                        value=_RATING_WORDS[value] if rating_style == "words" else value)
            elif status == "not applicable":
                ws.cell(row=row, column=3, value="N/A")
            comment = getattr(rec, "comment", None)
            if comment is not None and not pd.isna(comment) and str(comment):
                ws.cell(row=row, column=4, value=str(comment))
            row += 1
        ws.column_dimensions["A"].width = 8
        ws.column_dimensions["B"].width = 80
        ws.column_dimensions["C"].width = 14
        ws.column_dimensions["D"].width = 50

    wb.properties.creator = "changing_tracks"
    wb.properties.created = _FIXED_TIME
    wb.properties.modified = _FIXED_TIME
    buffer = io.BytesIO()
    wb.save(buffer)
    _write_reproducible_zip(buffer.getvalue(), path)
    return path


def _write_reproducible_zip(data: bytes, path: Path) -> None:
    """Rewrite an xlsx with fixed member timestamps and core properties, atomically."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _fix_core_times(content)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, content)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(out.getvalue())
    tmp.replace(path)


def _fix_core_times(xml: bytes) -> bytes:
    import re

    return re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                  rb"\g<1>2020-01-01T00:00:00Z\g<2>", xml)
