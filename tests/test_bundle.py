"""The integration bundle's pieces on the tiny model: the emulator's double/C ABI path,
the vendor script without a vendor tool, and the errors of `trigger export`."""

import ctypes
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture
def tiny_bundle(tiny_project):
    assert run_cli("synth", "tiny") == 0
    assert run_cli("export", "tiny") == 0
    return tiny_project / "hls_projects" / "tiny" / "bundle"


@pytest.mark.slow
def test_emulator_c_abi_on_doubles_equals_the_csim(tiny_bundle):
    """The C ABI from Python (ctypes): doubles in, the csim outputs out, exactly; and the widths it reports."""
    lib = ctypes.CDLL(str(tiny_bundle / "emulator" / "tiny_emulator.so"))
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
