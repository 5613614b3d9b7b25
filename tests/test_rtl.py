"""The RTL twin (trigger/rtl): the da4ml trace of every cast,
the numpy emulator against the csim, and the whole flow on the tiny model: Icarus simulation
at 0 LSB, latency equal to da4ml's pipeline depth, yosys resources, a wrong weight caught."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from conftest import run_cli
from trigger.errors import ToolMissing, TriggerError
from trigger.emulate import Emulator
from trigger.firmware import FirmwareProject, read_test_vectors
from trigger.rtl import flow, simulate, yosys
from trigger.fixed import FixedType
from trigger.firmware import Graph, Step, annotate


def _one_cast_graph(fmt: FixedType) -> Graph:
    src = FixedType(10, 4, True)  # every value of the input grid is tried
    return annotate(Graph("cast", [Step("x", "input", (), src, 1), Step("y", "linear", ("x",), fmt, 1)]))


@pytest.mark.parametrize("fmt", [
    FixedType(6, 2, True, "RND_CONV", "SAT"), FixedType(6, 2, True, "RND", "WRAP"), FixedType(5, 1, False, "RND_CONV", "SAT"),
    FixedType(7, 3, True, "TRN", "SAT_SYM"), FixedType(4, 4, True, "RND_CONV", "WRAP"),
], ids=lambda fmt: fmt.spelled)
def test_traced_cast_equals_numpy_cast_on_every_input(fmt):
    """da4ml has no RND_CONV: the twin builds it from an offset and the tie bit. Exhaustive check."""
    from trigger.rtl.twin import trace

    graph = _one_cast_graph(fmt)
    x = np.arange(-512, 512)[:, None] / 64.0
    traced = trace(graph, 3).predict(x)
    assert np.array_equal(traced.reshape(-1), Emulator(graph)(x).reshape(-1))


def test_unsupported_layer_is_named(tiny_project):
    from trigger.firmware import from_hls

    class Layer:
        name, class_name, inputs, attributes = "sm", "Softmax", ["x"], {}

        def get_output_variable(self):
            class T:
                precision = type("P", (), {"width": 8, "integer": 2, "signed": True})()
            return type("V", (), {"type": T, "shape": [3]})()

        def get_attr(self, key):
            return None

    model = type("M", (), {"config": type("C", (), {"get_config_value": lambda self, k: "io_parallel"})(),
                           "get_layers": lambda self: [Layer()]})()
    with pytest.raises(TriggerError, match="layer 'sm' \\(Softmax\\) has no RTL-twin equivalent"):
        from_hls(model, "m")


def _trained(root):
    from trigger.spec import load_spec
    from trigger.trained import Trained

    return Trained.load(load_spec(root / "models" / "tiny" / "spec.yml"))


@pytest.fixture
def tiny_rtl(tiny_project):
    assert run_cli("synth", "tiny") == 0
    assert run_cli("rtl", "tiny") == 0
    return tiny_project


@pytest.mark.slow
def test_rtl_flow_end_to_end_on_the_tiny_model(capsys, tiny_rtl):
    """`trigger rtl`: RTL == csim on every event, latency == da4ml depth (data and valid flag), II 1,
    yosys resources, all labelled rtl in metrics.json beside the estimate."""
    report = json.loads((tiny_rtl / "models" / "tiny" / "rtl.json").read_text())
    sim = report["simulation"]
    assert report["emulator"]["exact_fraction"] == 1.0 and report["emulator"]["events"] == sim["events"] == 400
    assert sim["mismatches"] == 0 and sim["exact_fraction"] == 1.0 and sim["first_mismatch"] is None
    depth = json.loads((tiny_rtl / "hls_projects" / "tiny" / "rtl" / "metadata.json").read_text())["latency"]
    assert sim["pipeline_depth"] == depth >= 2
    assert sim["latency_cycles"] == sim["valid_latency_cycles"] == depth
    assert sim["ii_cycles"] == 1
    synth = report["synthesis"]
    assert synth["lut"] > 50 and synth["ff"] > 0 and synth["carry"] > 0 and synth["dsp"] == synth["bram"] == 0
    assert synth["lut"] == sum(n for c, n in synth["cells"].items() if c.startswith("LUT") or c in ("INV", "SRL16E"))
    assert report["tools"]["yosys"].startswith("Yosys") and report["timing"]["source"] == "estimate"

    metrics = json.loads((tiny_rtl / "models" / "tiny" / "metrics.json").read_text())
    for name in ("latency_cycles", "latency_ns", "ii_cycles", "lut", "ff", "dsp", "bram"):
        assert metrics["budget"][name]["source"] == "rtl"
        assert metrics["rtl"]["figures"][name]["value"] == metrics["budget"][name]["value"]
        assert metrics["backends"]["Vitis"]["estimate"][name]["source"] == "estimate"
    assert metrics["budget"]["latency_ns"]["value"] == depth * 5.0
    assert metrics["rtl"]["estimate_over_rtl"]["lut"] == round(
        metrics["backends"]["Vitis"]["estimate"]["lut"]["value"] / synth["lut"], 3)
    out = capsys.readouterr().out
    assert "RTL vs csim: PASS: 400/400 events bit-exact" in out
    est_lut = metrics["backends"]["Vitis"]["estimate"]["lut"]["value"]
    assert f"{synth['lut']}  " in out and f"{est_lut} ({est_lut / synth['lut']:.2f}x)" in out  # rtl beside the estimate

    # synth again: the twin still matches this graph, so its figures stay; the summary shows both
    assert run_cli("synth", "tiny") == 0
    again = json.loads((tiny_rtl / "models" / "tiny" / "metrics.json").read_text())
    assert again["budget"] == metrics["budget"] and again["rtl"] == metrics["rtl"]


@pytest.mark.slow
def test_a_stale_twin_is_not_used(tiny_rtl):
    """An rtl.json built from another graph (e.g. before a retrain) must not lend its figures."""
    model = tiny_rtl / "models" / "tiny"
    report = json.loads((model / "rtl.json").read_text())
    report["graph_sha256"] = "0" * 64
    (model / "rtl.json").write_text(json.dumps(report))
    assert run_cli("synth", "tiny") == 0
    metrics = json.loads((model / "metrics.json").read_text())
    assert "rtl" not in metrics
    for name in ("latency_cycles", "latency_ns", "ii_cycles", "lut", "ff", "dsp", "bram"):
        assert metrics["budget"][name]["source"] == "estimate"


@pytest.mark.slow
def test_a_wrong_weight_is_caught_with_its_layer(tiny_rtl, tmp_path):
    """One weight of the first layer moved by one LSB: the simulation must differ from the csim,
    name the first differing output and the layer where the graphs part, in LSBs."""
    trained = _trained(tiny_rtl)
    project = FirmwareProject.of(trained, "Vitis", tmp_path / "hls")
    graph, spec = project.graph, trained.spec
    x, csim = read_test_vectors(tiny_rtl / "hls_projects" / "tiny" / "Vitis", "tiny")
    first = graph.steps[1]
    assert first.op == "dense"
    column = int(np.argmax(np.abs(first.weight[0])))  # a live connection of input 0
    weight = first.weight.copy()
    weight[0, column] += first.meta["weight_lsb"]  # one LSB of weight_t: products stay on the accumulator grid
    wrong = annotate(Graph(graph.name, [replace(s, weight=weight) if s is first else replace(s) for s in graph.steps]))
    assert wrong.fingerprint() != graph.fingerprint()
    twin = flow.build(wrong, tmp_path / "rtl", spec.firmware.part, spec.firmware.clock_period_ns)
    result = flow.check(twin, tmp_path / "rtl", x, csim, project.trace)
    assert result["mismatches"] > 0 and result["exact_fraction"] < 1.0
    assert result["latency_cycles"] is None and result["ii_cycles"] is None
    mismatch = result["first_mismatch"]
    assert mismatch["lsb_diff"] >= 1 and mismatch["got"] != mismatch["expected"]
    assert result["first_diverging_layer"]["layer"] == first.name
    assert result["first_diverging_layer"]["lsb_diff"] >= 1
    assert flow.figures(result, {"lut": 1, "ff": 1, "dsp": 0, "bram": 0}, 5.0) == {}  # a wrong twin lends no figures


@pytest.mark.slow
def test_emulator_equals_csim_on_every_event(tiny_rtl, tmp_path):
    graph = FirmwareProject.of(_trained(tiny_rtl), "Vitis", tmp_path / "hls").graph
    x, csim = read_test_vectors(tiny_rtl / "hls_projects" / "tiny" / "Vitis", "tiny")
    assert np.array_equal(Emulator(graph)(x), csim)
    layers = Emulator(graph).layers(x[:5])
    assert list(layers) == [s.name for s in graph.steps]


def test_rtl_before_synth_is_a_one_line_error(tiny_project, capsys):
    assert run_cli("rtl", "tiny") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run `trigger synth tiny`" in err


@pytest.mark.parametrize("tool, require", [("iverilog", simulate.require_iverilog), ("yosys", yosys.require_yosys)])
def test_missing_tool_is_named(monkeypatch, tool, require):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == tool else real(name))
    with pytest.raises(ToolMissing, match=f"{tool}.*not found on PATH; install"):
        require()


def test_yosys_family_of_the_part():
    assert yosys.family("xcvu13p-flga2577-2-e") == "xcup"
    assert yosys.family("xcku115-flvb2104-2-e") == "xcu"
    assert yosys.family("xc7k325tffg900-2") == "xc7"
    with pytest.raises(TriggerError, match="no yosys synth_xilinx family"):
        yosys.family("10ax115s2f45i1sg")


@pytest.mark.slow
def test_bench_compares_emulator_and_csim_on_the_same_events(capsys, tiny_project):
    """`make bench` on the tiny model: both run, every event equal (the speed is reported, not asserted)."""
    assert run_cli("synth", "tiny") == 0
    assert run_cli("bench", "tiny", "--events", "3000") == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny ")][-1]
    assert row.split()[1] == "3000" and row.endswith("yes")


@pytest.mark.slow
def test_products_off_the_accumulator_grid_truncate_like_hls4ml(tiny_project, tmp_path):
    """A narrow accum_t (fewer fraction bits than input x weight) makes hls4ml truncate every
    product before the sum: the emulator and the traced twin must do the same, bit for bit."""
    from trigger.rtl.twin import trace

    trained = _trained(tiny_project)
    trained.spec.firmware.layers["dense_1"] = {"Precision": {"accum": "ap_fixed<20,8>"}}
    project = FirmwareProject.of(trained, "Vitis", tmp_path / "hls")
    graph = project.graph
    dense = graph.step("dense_1")
    assert dense.accum.frac == 12 and not dense.exact_products
    x = trained.x
    csim = project.predict(x)
    assert np.array_equal(Emulator(graph)(x), csim)
    assert np.array_equal(trace(graph, 3).predict(x), csim)
    exact = FirmwareProject.of(_trained(tiny_project), "Vitis", tmp_path / "exact").graph
    assert not np.array_equal(Emulator(exact)(x), csim)  # the truncation matters on this sample


def test_heterogeneous_quantizer_in_emulator_and_twin_on_every_input():
    """HGQ2's quantizer (hls4ml FixedPointQuantizer): each element to its own type, one element to 0; the emulator
    against the per-element numpy cast, and the da4ml trace against the emulator, on every input value."""
    from trigger.firmware import quantize_step
    from trigger.fixed import cast
    from trigger.rtl.twin import trace

    src = FixedType(10, 4, True)
    for rounding, overflow in (("RND", "SAT"), ("TRN", "WRAP"), ("TRN", "SAT_SYM")):
        types = (FixedType(6, 2, True, rounding, overflow), FixedType(4, 1, False, rounding, overflow), None,
                 FixedType(3, 3, True, rounding, overflow))
        graph = annotate(Graph("q", [Step("x", "input", (), src, 4),
                                     quantize_step("q", "x", FixedType(8, 4, True), types)]))
        x = np.repeat(np.arange(-512, 512)[:, None] / 64.0, 4, axis=1)
        expected = np.stack([np.zeros(len(x)) if t is None else cast(x[:, j], t) for j, t in enumerate(types)], axis=1)
        emulated = Emulator(graph)(x)
        assert np.array_equal(emulated, expected), (rounding, overflow)
        assert np.array_equal(trace(graph, 3).predict(x), emulated), (rounding, overflow)
