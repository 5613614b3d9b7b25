"""The integration bundle's pieces on the tiny model: the emulator as CMSSW loads it (two models in
one process, a broken vtable caught), its double/C ABI path, the RTL core's Verilog testbench as a
firmware engineer runs it (and what makes it fail), the vendor script without a vendor tool, and the
errors of `trigger export`."""

import ctypes
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import cms_consumer, run_cli, run_cli_in, run_cms_consumer


@pytest.fixture
def tiny_bundle(tiny_project):
    assert run_cli("synth", "tiny") == 0
    assert run_cli("export", "tiny") == 0
    return tiny_project / "hls_projects" / "tiny" / "bundle"


@pytest.fixture
def other_bundle(trained_tiny_other, tmp_path):
    """The bundle of another network named tiny, exported as TinyOther_v1."""
    root = tmp_path / "other"
    shutil.copytree(trained_tiny_other, root)
    run_cli_in(root, "synth", "tiny")
    run_cli_in(root, "export", "tiny", "--emulator-name", "TinyOther_v1")
    return root / "hls_projects" / "tiny" / "bundle"


def _run(bundle, library: str, expected=None) -> tuple:
    """A consumer run: (library directory, name, inputs, expected outputs) of a bundle."""
    return (bundle / "emulator", library, bundle / "vectors" / "tiny_inputs.hex", expected or bundle / "vectors" / "tiny_outputs.hex")


@pytest.mark.slow
def test_two_models_of_one_name_in_one_process_through_the_cms_loader(tiny_bundle, other_bundle, tmp_path):
    """Both networks are called tiny (same top function, layer configs and weight names) and compute different
    outputs; loaded by bare name into one process, each still gives its own results, event for event."""
    theirs = other_bundle / "vectors" / "tiny_outputs.hex"
    assert theirs.read_text() != (tiny_bundle / "vectors" / "tiny_outputs.hex").read_text()
    consumer = cms_consumer([tiny_bundle, other_bundle], tmp_path / "consumer")
    both = run_cms_consumer(consumer, _run(tiny_bundle, "Tiny_v1"), _run(other_bundle, "TinyOther_v1"))
    assert both.returncode == 0, both.stdout + both.stderr
    verdicts = both.stdout.splitlines()
    assert [line.split(":")[:2] for line in verdicts] == [["PASS", " Tiny_v1"], ["PASS", " TinyOther_v1"]]
    assert all("400/400 events bit-exact" in line and "2 models in one process" in line for line in verdicts)
    crossed = run_cms_consumer(consumer, _run(tiny_bundle, "Tiny_v1", theirs))  # the check tells the two apart
    assert crossed.returncode == 1 and crossed.stdout.splitlines()[-1].startswith("FAIL: Tiny_v1:")


@pytest.mark.slow
def test_a_destructor_first_vtable_fails_the_cms_consumer(tiny_bundle, tmp_path):
    """The bundle's header with the virtual destructor moved first (the old layout): the library builds, and the
    consumer, compiled against the CMS layout, must not pass with it."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    header = broken / "emulator" / "hls4ml" / "emulator.h"
    destructor, first = "    virtual ~Model() = default;\n", "    virtual void prepare_input(std::any input) = 0;\n"
    assert header.read_text().count(destructor) == 1
    header.write_text(header.read_text().replace(destructor, "").replace(first, destructor + first))
    subprocess.run(["make", "-s", "-C", str(broken / "emulator"), "clean", "Tiny_v1.so"], check=True)
    consumer = cms_consumer([tiny_bundle], tmp_path / "consumer")
    assert run_cms_consumer(consumer, _run(tiny_bundle, "Tiny_v1")).returncode == 0
    bad = run_cms_consumer(consumer, _run(broken, "Tiny_v1"))
    assert bad.returncode != 0 and "PASS" not in bad.stdout, bad.stdout


@pytest.mark.slow
def test_emulator_library_exports_only_its_factory_and_c_abi(tiny_bundle):
    """Nothing of the network is visible outside the library (no symbol to collide with another model's)."""
    out = subprocess.run(["nm", "-D", "--defined-only", "-C", str(tiny_bundle / "emulator" / "Tiny_v1.so")],
                         capture_output=True, text=True, check=True).stdout
    symbols = [line.split(maxsplit=2)[1:] for line in out.splitlines()]
    assert not [name for kind, name in symbols if kind == "u"]  # no process-wide unique symbols
    ours = {name for _, name in symbols if "std::" not in name and "__gnu_cxx" not in name}
    assert ours == {"create_model", "destroy_model", "trigger_model_name", "trigger_n_inputs", "trigger_n_outputs",
                    "trigger_input_width", "trigger_input_integer", "trigger_input_signed", "trigger_output_width",
                    "trigger_output_integer", "trigger_output_signed", "trigger_predict_raw", "trigger_predict"}


@pytest.mark.slow
def test_emulator_c_abi_on_doubles_equals_the_csim(tiny_bundle):
    """The C ABI from Python (ctypes): doubles in, the csim outputs out, exactly; and the widths it reports."""
    lib = ctypes.CDLL(str(tiny_bundle / "emulator" / "Tiny_v1.so"))
    lib.trigger_model_name.restype = ctypes.c_char_p
    assert lib.trigger_model_name() == b"Tiny_v1"
    ports = json.loads((tiny_bundle / "interface.json").read_text())
    assert lib.trigger_n_inputs() == ports["input"]["count"] and lib.trigger_n_outputs() == ports["output"]["count"]
    assert lib.trigger_output_width() == ports["output"]["width"]
    x = np.loadtxt(tiny_bundle / "tb_data" / "tb_input_features.dat", ndmin=2)
    expected = np.loadtxt(tiny_bundle / "tb_data" / "tb_output_predictions.dat", ndmin=2)
    out = np.zeros(expected.shape[1])
    dptr = ctypes.POINTER(ctypes.c_double)
    for event in range(len(x)):
        row = np.ascontiguousarray(x[event])
        assert lib.trigger_predict(row.ctypes.data_as(dptr), out.ctypes.data_as(dptr)) == 0
        assert np.array_equal(out, expected[event]), event
    raw = np.full(len(x[0]), 2**40, np.int64)  # far outside the input type: refused
    iptr = ctypes.POINTER(ctypes.c_int64)
    assert lib.trigger_predict_raw(raw.ctypes.data_as(iptr), np.zeros(8, np.int64).ctypes.data_as(iptr)) == -1


@pytest.mark.slow
def _rtl_testbench(bundle, *plusargs: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(bundle / "rtl" / "run_testbench.sh"), *plusargs], capture_output=True, text=True)


@pytest.mark.slow
def test_rtl_core_testbench_passes_on_every_event_and_says_so(tiny_bundle):
    """Run as the README says, from anywhere: every event back to back and again with gaps, on time; the same
    verdict as the bundle README's."""
    assert not (tiny_bundle / "rtl" / "build").exists()  # the export's run left nothing behind
    proc = _rtl_testbench(tiny_bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict = proc.stdout.strip().splitlines()[-1]
    assert verdict.startswith("PASS: tb_tiny: 800/800 results bit-exact (400 of the 400 test events back to back, "
                              "then 400 with random gaps)"), verdict
    assert f"RTL core testbench (Icarus): {verdict}" in (tiny_bundle / "README.md").read_text()
    hls = (tiny_bundle / "wrapper" / "tiny_l1_wrapper.v").read_text()
    rtl = (tiny_bundle / "rtl" / "src" / "tiny_rtl.v").read_text()
    ports = lambda text: text[text.index("(\n") + 2:text.index("\n);")]  # noqa: E731
    assert ports(hls) == ports(rtl)  # one port map, whichever core is wired in


@pytest.mark.slow
def test_rtl_testbench_fails_on_a_flipped_bit_a_late_core_and_short_vectors(tiny_bundle, tmp_path):
    outputs = tiny_bundle / "vectors" / "tiny_outputs.hex"
    lines = outputs.read_text().splitlines()
    lines[5] = lines[5][:-1] + format(int(lines[5][-1], 16) ^ 1, "x")
    flipped = tmp_path / "flipped.hex"
    flipped.write_text("\n".join(lines) + "\n")
    bad = _rtl_testbench(tiny_bundle, f"+outputs={flipped}", "+events=50")
    assert bad.returncode != 0
    assert "MISMATCH event 5 (back to back) output 0:" in bad.stdout and "(1 LSB apart)" in bad.stdout
    assert "FAIL: tb_tiny: 2 mismatches; 100 of 100 results checked" in bad.stdout  # both phases caught it

    short = tmp_path / "short.hex"
    short.write_text("\n".join(lines[:-1]) + "\n")
    bad = _rtl_testbench(tiny_bundle, f"+outputs={short}")
    assert bad.returncode != 0 and f"FAIL: tb_tiny: {short}: 399 lines; the vectors are EVENTS = 400 lines" in bad.stdout

    late = tmp_path / "late"  # the same core, one register later: right data, wrong clock
    shutil.copytree(tiny_bundle, late)
    core = late / "rtl" / "src" / "tiny_rtl.v"
    core.write_text(core.read_text().replace("module tiny_rtl (", "module tiny_rtl_on_time ("))
    ports = json.loads((tiny_bundle / "interface.json").read_text())
    n_in, n_out = (ports[k]["count"] * ports[k]["width"] for k in ("input", "output"))
    (late / "rtl" / "src" / "tiny_late.v").write_text(f"""module tiny_rtl (input wire clk, input wire rst, input wire in_valid,
    input wire [{n_in - 1}:0] in_data, output reg out_valid, output reg [{n_out - 1}:0] out_data);
    localparam OUT = {n_out};
    wire valid;
    wire [OUT - 1:0] data;
    tiny_rtl_on_time core (.clk(clk), .rst(rst), .in_valid(in_valid), .in_data(in_data), .out_valid(valid), .out_data(data));
    always @(posedge clk) begin
        out_valid <= valid;
        out_data <= data;
    end
endmodule
""")
    bad = _rtl_testbench(late, "+events=20")
    assert bad.returncode != 0, bad.stdout
    assert "out_valid = 0 where a result is due" in bad.stdout and "FAIL: tb_tiny:" in bad.stdout


def test_bundle_readme_and_scripts(tiny_bundle):
    readme = (tiny_bundle / "README.md").read_text()
    assert "HLS testbench (g++): PASS: 400/400 events bit-exact" in readme
    assert "(estimate)" in readme and "`estimate` = trigger's analytic estimate" in readme
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no vendor tool
    proc = subprocess.run(["bash", str(tiny_bundle / "vivado_scripts" / "run_export.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode == 3
    assert "no Vivado/Vitis HLS on PATH" in proc.stderr and "vitis_hls -f vivado_scripts/export_ip.tcl" in proc.stderr
    tcl = (tiny_bundle / "vivado_scripts" / "export_ip.tcl").read_text()
    for step in ("csim_design", "csynth_design", "cosim_design", "export_design -format ip_catalog"):
        assert step in tcl


def test_emulator_name_must_look_like_model_v_n(tiny_project, capsys):
    """Checked before anything is built: CMSSW loads <name>.so by that name."""
    assert run_cli("export", "tiny", "--emulator-name", "tiny.so") == 2
    err = capsys.readouterr().err.strip()
    assert "--emulator-name = 'tiny.so' must look like <Model>_v<N>, e.g. JetTagger_v1" in err and "\n" not in err


@pytest.mark.slow
def test_export_refuses_a_project_written_from_another_graph(tiny_project, capsys):
    """A project left from an earlier training would ship an RTL core of other arithmetic: refused, before anything."""
    assert run_cli("synth", "tiny") == 0
    path = tiny_project / "hls_projects" / "tiny" / "Vitis" / "interface.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "graph_sha256": "0" * 64}))
    assert run_cli("export", "tiny") == 2
    err = capsys.readouterr().err.strip()
    assert "hls_projects/tiny/Vitis: the project was not written from this model" in err and "\n" not in err
    assert not (tiny_project / "hls_projects" / "tiny" / "bundle").exists()


def test_rtl_events_must_be_positive(tiny_project, capsys):
    assert run_cli("export", "tiny", "--rtl-events", "0") == 2
    err = capsys.readouterr().err.strip()
    assert "--rtl-events 0: give a number of events >= 1" in err and "\n" not in err


def test_export_without_a_project_is_a_one_line_error(tiny_project, capsys):
    assert run_cli("export", "tiny") == 2
    err = capsys.readouterr().err.strip()
    assert "no HLS project; run `trigger synth` for this model first" in err and "\n" not in err
    assert not (tiny_project / "hls_projects" / "tiny" / "bundle").exists()


def test_export_of_an_old_project_without_interface_asks_to_resynthesise(tiny_project, capsys):
    project = tiny_project / "hls_projects" / "tiny" / "Vitis"
    project.mkdir(parents=True)
    assert run_cli("export", "tiny") == 2
    assert "interface.json: missing; regenerate the project with `trigger synth`" in capsys.readouterr().err


@pytest.mark.slow
def test_a_testbench_that_does_not_compile_is_a_one_line_error(tiny_project, capsys):
    """g++ failing on the project (here: a damaged top function) is named, not a CalledProcessError traceback."""
    assert run_cli("synth", "tiny") == 0
    top = tiny_project / "hls_projects" / "tiny" / "Vitis" / "firmware" / "tiny.cpp"
    top.write_text(top.read_text() + "\nthis is not C++;\n")
    capsys.readouterr()
    assert run_cli("export", "tiny") == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in captured.err
    assert "the firmware does not compile with g++ (firmware/tiny.cpp:" in err  # compiled once, before the testbench
    assert not (tiny_project / "hls_projects" / "tiny" / "bundle").exists()


def test_units_must_name_features(tiny_project, capsys):
    import yaml

    spec_path = tiny_project / "models" / "tiny" / "spec.yml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["data"]["units"] = {"f9": "GeV"}
    spec_path.write_text(yaml.safe_dump(spec))
    assert run_cli("synth", "tiny") == 2
    assert "'data.units.f9' is not a feature or <collection>.<field>" in capsys.readouterr().err
