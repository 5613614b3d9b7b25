# C simulation, C synthesis, C/RTL co-simulation and IP-catalog export of one hls4ml project.
# Run from the project (or bundle) directory:
#   vitis_hls -f vivado_scripts/export_ip.tcl          (Vitis HLS)
#   vitis-run --mode hls --tcl vivado_scripts/export_ip.tcl
#   vivado_hls -f vivado_scripts/export_ip.tcl         (Vivado HLS)
# or let vivado_scripts/run_export.sh pick the tool. The testbench (<project>_test.cpp) compares
# every output with tb_data bit for bit and returns non-zero on a mismatch, so csim and cosim fail
# on any difference. The IP lands in <project>_prj/solution1/impl/ip/.
source project.tcl

open_project -reset ${project_name}_prj
set_top ${project_name}
add_files firmware/${project_name}.cpp -cflags "-std=c++0x"
add_files -tb ${project_name}_test.cpp -cflags "-std=c++0x"
add_files -tb tb_data
open_solution -reset "solution1"
set_part $part
create_clock -period $clock_period -name default
set_clock_uncertainty $clock_uncertainty default
config_compile -name_max_length 80

csim_design
csynth_design
cosim_design -trace_level none
export_design -format ip_catalog -version $version
exit
