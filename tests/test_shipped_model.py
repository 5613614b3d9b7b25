"""The committed models, re-run: csim equals the quantized Keras outputs (logits, anomaly score,
regressed momenta, latent) at 0 LSB on every test event, on both backends; each committed
metrics.json is what the harness measures today; the bundles check themselves. (What can be
checked by reading the committed files alone is in test_artifacts.py.)"""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO, SHIPPED, cms_consumer, run_cli_in, run_cms_consumer

pytestmark = pytest.mark.slow  # re-runs every shipped model end to end



@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request, tmp_path_factory):
    """Re-run the full harness on a copy of a shipped model (the repo's files stay untouched)."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(REPO / "models" / name, root / "models" / name, ignore=shutil.ignore_patterns("metrics.json", "plots"))
    run_cli_in(root, "synth", name)
    fresh = json.loads((root / "models" / name / "metrics.json").read_text())
    committed = json.loads((REPO / "models" / name / "metrics.json").read_text())
    return name, fresh, committed, root


def test_csim_bit_exact_on_every_event(shipped):
    _, fresh, _, _ = shipped
    assert fresh["events"] >= 5000
    for backend in ("Vitis", "Vivado"):
        csim = fresh["backends"][backend]["csim"]
        assert csim["events"] == fresh["events"]
        assert csim["exact_fraction"] == 1.0, csim
        assert csim["max_lsb_diff"] == 0
        assert csim["first_diverging_layer"] is None
        assert fresh["backends"][backend]["metrics"] == fresh["metrics"]["quantized"]


def test_committed_metrics_reproduce(shipped):
    """Fixed-point results exactly; the float reference may move in the last ulp on another CPU."""
    _, fresh, committed, _ = shipped
    assert fresh["metrics"]["quantized"] == committed["metrics"]["quantized"]
    assert fresh["metrics"]["csim"] == committed["metrics"]["csim"]
    assert _close(fresh["metrics"]["float"], committed["metrics"]["float"])
    assert fresh["overflow"] == committed["overflow"]
    for name, fig in committed["budget"].items():
        if name != "pass" and fig["source"] != "csim":  # metric drops involve the float model
            assert fresh["budget"][name] == fig


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-6, abs=1e-12)
    return a == b


def test_anomaly_trigger_bit_exported(shipped):
    name, fresh, _, root = shipped
    if fresh["task"] != "anomaly":
        pytest.skip("anomaly models only")
    threshold = json.loads((REPO / "models" / name / "trained/threshold.json").read_text())
    header = (root / "hls_projects" / name / "Vitis/firmware" / f"{name}_threshold.h").read_text()
    assert f"{name.upper()}_THRESHOLD = {threshold['value']!r};" in header
    for signal in ("A4l", "LQ", "h0", "hpm"):
        for which in ("float", "quantized", "csim"):
            entry = fresh["metrics"][which]["signals"][signal]
            assert 0 <= entry["tpr"] <= 1 and entry["tpr_err"] > 0


def test_regression_reports_every_component(shipped):
    name, fresh, _, root = shipped
    if fresh["task"] != "regression":
        pytest.skip("regression models only")
    for which in ("float", "quantized", "csim"):
        components = fresh["metrics"][which]["components"]
        assert set(components) == {"top_px", "top_py", "top_pz", "top_e"}
        for c in components.values():
            assert set(c) == {"r2", "bias", "rms"} and c["rms"] > 0
        assert all(len(v["rms"]) == len(fresh["metrics"][which]["binned"]["edges"]) - 1
                   for k, v in fresh["metrics"][which]["binned"].items() if k.startswith("top_"))
    assert "OUTPUT_SHIFT = 8;" in (root / "hls_projects" / name / "Vivado/firmware" / f"{name}_units.h").read_text()


@pytest.fixture(scope="module")
def bundle(shipped):
    """`trigger export` of the freshly synthesised shipped model: hls_projects/<name>/bundle/."""
    name, _, _, root = shipped
    run_cli_in(root, "export", name, "--rtl-events", str(RTL_EVENTS))
    return name, root / "hls_projects" / name / "bundle"


RTL_EVENTS = 200  # the RTL core's testbench in CI (Icarus: ms per clock); `make export` runs every event


def test_rtl_core_in_the_bundle_passes_its_testbench_on_time(bundle):
    """The bundle's RTL core, simulated through its L1 port map by its own Verilog testbench: bit-exact, and each
    result exactly the committed twin's latency after its event."""
    name, path = bundle
    latency = json.loads((REPO / "models" / name / "rtl.json").read_text())["figures"]["latency_cycles"]["value"]
    readme = (path / "README.md").read_text()
    verdict = f"RTL core testbench (Icarus): PASS: tb_{name}: {2 * RTL_EVENTS}/{2 * RTL_EVENTS} results bit-exact"
    assert verdict in readme and f"each {latency} clocks after its in_valid" in readme
    assert (path / "rtl" / "src" / f"{name}_rtl.v").is_file() and (path / "rtl" / f"tb_{name}.v").is_file()


def test_emulator_loads_as_in_cmssw_and_catches_one_flipped_bit(bundle, tmp_path):
    """A consumer compiled against its own copy of the CMS header loads <Model>_v1.so by bare name through
    LD_LIBRARY_PATH and runs every event on ap_fixed arrays; one flipped expected bit must make it fail."""
    name, path = bundle
    library = "".join(part.capitalize() for part in name.split("_")) + "_v1"
    assert (path / "emulator" / f"{library}.so").is_file()
    consumer = cms_consumer([path], tmp_path / "consumer")
    inputs, expected = path / "vectors" / f"{name}_inputs.hex", path / "vectors" / f"{name}_outputs.hex"
    ok = run_cms_consumer(consumer, (path / "emulator", library, inputs, expected))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"PASS: {library}: 6000/6000 events bit-exact")
    assert "a wrong std::any type throws std::bad_any_cast" in ok.stdout

    lines = expected.read_text().splitlines()
    event, digit = 137, len(lines[137]) - 1  # the lowest bit of output 0
    lines[event] = lines[event][:digit] + format(int(lines[event][digit], 16) ^ 1, "x")
    flipped = tmp_path / "flipped.hex"
    flipped.write_text("\n".join(lines) + "\n")
    bad = run_cms_consumer(consumer, (path / "emulator", library, inputs, flipped))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"MISMATCH {library} event {event} output 0" in bad.stdout
    assert f"FAIL: {library}: 5999/6000 events bit-exact" in bad.stdout


def test_hls_testbench_fails_on_a_corrupted_expected_output(bundle, tmp_path):
    """The generated testbench, compiled with g++ against the HLS headers hls4ml ships, exits 1 on any difference."""
    from trigger.firmware import testbench

    name, path = bundle
    tb = path / "tb_data"
    binary = testbench.build(path, name)
    assert testbench.run(binary).returncode == 0
    rows = (tb / "tb_output_predictions.dat").read_text().splitlines()
    ports = json.loads((path / "interface.json").read_text())
    lsb = 2.0 ** (ports["output"]["integer"] - ports["output"]["width"])
    values = rows[42].split()
    values[-1] = repr(float(values[-1]) + lsb)  # one LSB off in the last output of event 42
    rows[42] = " ".join(values)
    corrupted = tmp_path / "corrupted.dat"
    corrupted.write_text("\n".join(rows) + "\n")
    proc = testbench.run(binary, [str(tb / "tb_input_features.dat"), str(corrupted)])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"MISMATCH event 42 output {len(values) - 1}" in proc.stdout and "(1 LSB)" in proc.stdout


def test_bundle_port_table_matches_the_generated_cpp_signature(bundle):
    """README rows vs firmware/<top>.h (prototype) and defines.h (typedefs), parsed independently."""
    name, path = bundle
    header = (path / "firmware" / f"{name}.h").read_text()
    proto = re.search(rf"void {name}\(\s*(\w+) (\w+)\[(\d+)\],\s*(\w+) (\w+)\[(\d+)\]\s*\);", header)
    assert proto, header
    typedefs = dict((alias, ctype.strip()) for ctype, alias in re.findall(r"typedef (.+?) (\w+);", (path / "firmware" / "defines.h").read_text()))
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in (path / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.count("|") == 8 and not line.startswith("| port ")]
    ports = [proto.group(1, 2, 3), proto.group(4, 5, 6)]
    assert len(rows) == sum(int(count) for _, _, count in ports)
    for c_type, port, count in ports:
        mine = [r for r in rows if r[0] == port]
        assert [int(r[1]) for r in mine] == list(range(int(count)))
        width = int(re.match(r"ap_u?fixed<(\d+),", typedefs[c_type]).group(1))
        for i, row in enumerate(mine):
            assert row[2] == c_type and row[3] == typedefs[c_type]
            assert row[4] == f"[{width * i + width - 1}:{width * i}]"
            assert row[5] and row[6]
        wrapper = (path / "wrapper" / f"{name}_l1_wrapper.v").read_text()
        bus = "in_data" if port == proto.group(2) else "out_data"
        assert re.search(rf"\[{int(count) * width - 1}:0\]\s+{bus}", wrapper)


def test_hex_vectors_are_the_tb_data_events(bundle):
    from trigger.fixed import unpack

    name, path = bundle
    ports = json.loads((path / "interface.json").read_text())
    for kind, dat in (("input", "tb_input_features.dat"), ("output", "tb_output_predictions.dat")):
        p = ports[kind]
        words = (path / "vectors" / f"{name}_{kind}s.hex").read_text().split()
        values = np.loadtxt(path / "tb_data" / dat, ndmin=2)
        assert len(words) == len(values) == 6000
        for event in (0, 2999, 5999):
            raw = unpack(words[event], p["width"], p["count"], p["signed"])
            assert np.array_equal(np.asarray(raw) * 2.0 ** (p["integer"] - p["width"]), values[event])


def test_rtl_flow_reproduces_the_committed_twin(shipped):
    """The smallest shipped model through `trigger rtl` again (CI keeps the others to `make rtl`):
    the same graph, simulation verdict, latency and yosys cells as committed."""
    name, _, _, root = shipped
    if name != "jet_compression":
        pytest.skip("one small model in CI; `make rtl` runs all")
    run_cli_in(root, "rtl", name)
    fresh = json.loads((root / "models" / name / "rtl.json").read_text())
    committed = json.loads((REPO / "models" / name / "rtl.json").read_text())
    for key in ("graph_sha256", "emulator", "simulation", "synthesis", "timing", "figures"):
        assert fresh[key] == committed[key], key
