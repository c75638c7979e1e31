"""Benchmarks run on demand (``make bench``), never in ``make test``.

``python -m benchmarks suite`` times the report build against a sequential
papermill loop; ``python -m benchmarks national`` times loading, validating,
scoring and every cross-service table on synthetic national-scale data.
"""
