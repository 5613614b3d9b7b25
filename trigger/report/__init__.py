"""The report: metrics.json (one schema, one writer), the budget gate, and the summary tables."""

from trigger.report import budget, metrics, summary
from trigger.report.budget import load_budget
from trigger.report.summary import bench_table, rtl_table, table

__all__ = ["bench_table", "budget", "load_budget", "metrics", "rtl_table", "summary", "table"]
