"""The report: metrics.json (one schema, one writer), the budget gate, the summary tables and the anomaly
triggers beside the cut baselines."""

from trigger.report import anomaly_table, budget, metrics, summary
from trigger.report.budget import load_budget
from trigger.report.summary import bench_table, rtl_table, table

__all__ = ["anomaly_table", "bench_table", "budget", "load_budget", "metrics", "rtl_table", "summary", "table"]
