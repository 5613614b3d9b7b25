#!/usr/bin/env bash
# C synthesis + IP export of one hls4ml project, then collect the reports.
#   usage: run_hls.sh <project_dir> <Vitis|Vivado>
# Called by `trigger synth` only when the vendor tool is on PATH; safe to run by hand.
set -euo pipefail
project=$(cd "$1" && pwd)
backend=$2
cd "$project"

case "$backend" in
  Vitis)
    command -v vitis-run >/dev/null || { echo "vitis-run not on PATH: source your Vitis settings64.sh" >&2; exit 3; }
    cat > build_opt.tcl <<'TCL'
array set opt {
    reset      1
    csim       0
    synth      1
    cosim      0
    validation 0
    export     1
    vsynth     0
    fifo_opt   0
}
TCL
    vitis-run --mode hls --tcl build_prj.tcl
    ;;
  Vivado)
    command -v vivado_hls >/dev/null || { echo "vivado_hls not on PATH: source your Vivado settings64.sh" >&2; exit 3; }
    vivado_hls -f build_prj.tcl "reset=1 csim=0 synth=1 cosim=0 validation=0 export=1 vsynth=0"
    ;;
  *)
    echo "unknown backend '$backend' (Vitis or Vivado)" >&2; exit 2 ;;
esac

# Keep the reports where a firmware engineer looks first.
mkdir -p reports
find . -path '*/syn/report/*' \( -name '*.rpt' -o -name '*.xml' \) -exec cp {} reports/ \;
echo "reports collected in $project/reports"
