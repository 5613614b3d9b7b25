#!/usr/bin/env bash
# csim + C synthesis + C/RTL co-simulation + IP export (vivado_scripts/export_ip.tcl) with whichever
# vendor HLS tool is on PATH; without one, print what would run and exit 3.
#   usage: run_export.sh [project_dir]      (default: the directory above this script)
set -euo pipefail
project=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$project"
if command -v vitis-run >/dev/null; then
    command=(vitis-run --mode hls --tcl vivado_scripts/export_ip.tcl)
elif command -v vitis_hls >/dev/null; then
    command=(vitis_hls -f vivado_scripts/export_ip.tcl)
elif command -v vivado_hls >/dev/null; then
    command=(vivado_hls -f vivado_scripts/export_ip.tcl)
else
    echo "no Vivado/Vitis HLS on PATH (vitis-run, vitis_hls, vivado_hls): source your settings64.sh; would run in $project:" >&2
    echo "  vitis_hls -f vivado_scripts/export_ip.tcl   # csim_design, csynth_design, cosim_design, export_design -format ip_catalog" >&2
    exit 3
fi
"${command[@]}" | tee vivado_scripts/export.log
mkdir -p reports
find . -path '*/syn/report/*' \( -name '*.rpt' -o -name '*.xml' \) -exec cp {} reports/ \;
name=$(sed -n 's/^set project_name "\(.*\)"/\1/p' project.tcl)
echo "IP catalog entry: $project/${name}_prj/solution1/impl/ip (reports in $project/reports)"
