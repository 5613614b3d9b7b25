"""Design-space exploration: `trigger scan` trains, converts and costs many variants of a spec on
Dask, keeps every trial on disk (resumable), draws the Pareto fronts and picks a design under the
budget (`--pick`)."""

from trigger.scan.front import pareto
from trigger.scan.search import load_records, pick, scan, scan_dir
from trigger.scan.space import ScanConfig, load_scan

__all__ = ["ScanConfig", "load_records", "load_scan", "pareto", "pick", "scan", "scan_dir"]
