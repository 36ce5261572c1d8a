"""Reports from stored benchmark results: a Markdown summary, PNG plots and a CSV export.

Reads the results store only (``surrogate.bench.store``): no torch, no Pyomo; matplotlib is
loaded when a plot is drawn.
"""

from surrogate.report.build import ReportFiles, flat_rows, write_csv, write_report
from surrogate.report.data import Campaign, Run, load_campaign
from surrogate.report.tables import Pair, Shares, pairs, sentinel_s, shares, summary_table

__all__ = [
    "Campaign",
    "Pair",
    "ReportFiles",
    "Run",
    "Shares",
    "flat_rows",
    "load_campaign",
    "pairs",
    "sentinel_s",
    "shares",
    "summary_table",
    "write_csv",
    "write_report",
]
