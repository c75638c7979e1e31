"""changing_tracks: load, validate and analyse Changing Tracks programme data, and build its reports.

Start with :func:`load_data`, which reads and validates a data folder; the
analysis modules (``audit``, ``wellbeing``, ``participation``, ``outcomes``,
``disclosure``) take its tables and return tidy DataFrames and figures.
"""

from .loaders import (
    Dataset,
    load_attendance,
    load_audit,
    load_data,
    load_outcomes,
    load_participation,
    load_table,
    load_wellbeing,
)
from .validation import DataValidationError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "DataValidationError",
    "Dataset",
    "load_data",
    "load_table",
    "load_audit",
    "load_wellbeing",
    "load_participation",
    "load_attendance",
    "load_outcomes",
]
