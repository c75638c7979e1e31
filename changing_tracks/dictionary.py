"""Generate ``docs/data-dictionary.md`` from the data contracts."""

from __future__ import annotations

from .contracts import KINDS, TABLES, Column

__all__ = ["data_dictionary"]


def _allowed(col: Column) -> str:
    if col.kind == "category":
        return ", ".join(f"`{a}`" for a in col.allowed)
    if col.minimum is not None:
        return f"{col.minimum:g} to {col.maximum:g}" if col.maximum is not None else f"≥ {col.minimum:g}"
    return ""


def _spellings(col: Column) -> str:
    extra = sorted({k for k, v in col.value_aliases.items() if str(v).lower() != k})
    return ", ".join(f"`{e}`" for e in extra)


def data_dictionary() -> str:
    """The data dictionary as Markdown (deterministic: same contracts, same text)."""
    out = [
        "# Data dictionary",
        "",
        "Generated from `changing_tracks/contracts.py` by "
        "`python -m changing_tracks dictionary --out docs/data-dictionary.md`; do not edit by hand "
        "(a test fails when this file is stale).",
        "",
        "Headers are matched ignoring case, spaces and punctuation (`Participant ID`, "
        "`participant_id` and `PARTICIPANT-ID` are the same header), and each column also "
        "accepts the header aliases listed. Category values are matched the same way and accept "
        "the other spellings listed. Files may be CSV (UTF-8 with or without BOM, or "
        "Windows-1252) or Excel `.xlsx`; a folder of files loads as one table. Columns that look "
        "like direct identifiers (names, email addresses, dates of birth, postcodes, phone "
        "numbers) are refused.",
        "",
        "## Kinds of value",
        "",
        "| kind | meaning |",
        "| --- | --- |",
    ]
    out += [f"| {k} | {v} |" for k, v in KINDS.items()]
    for table in TABLES.values():
        out += ["", f"## `{table.name}` — `{table.file}`", "", table.description, "",
                f"Unique key: {' + '.join(f'`{k}`' for k in table.key)}.", "",
                "| column | kind | required | blank allowed | allowed values | description | "
                "header aliases | other spellings accepted |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for col in table.columns:
            aliases = ", ".join(f"`{a}`" for a in col.aliases)
            out.append(
                f"| `{col.name}` | {col.kind} | {'yes' if col.required else 'no'} | "
                f"{'yes' if col.nullable else 'no'} | {_allowed(col)} | "
                f"{col.description.replace('|', '/')} | {aliases} | {_spellings(col)} |")
    out += ["", "## Loader-added columns", "",
            "Every loaded table also has `source_file`, `source_sheet` and `source_row` (the row "
            "as seen in Excel or a text editor), used in error messages; they are never "
            "published.", ""]
    return "\n".join(out)
