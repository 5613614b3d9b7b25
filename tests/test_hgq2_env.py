"""The HGQ2 environment (trigger/hgq2_env.py): HGQ2 runs beside QKeras without touching it.

The facts issue 20 measured, kept true: in an HGQ2 process `keras` is Keras 3 and the hgq2 wheel's own
`qkeras` shadows QKeras, and an HGQ2 model converts through the venv's hls4ml to a csim equal to the
model at 0 LSB, whose fixed-point graph (emulator, RTL-twin trace) equals the csim too; in a trigger
process QKeras 0.9.0 and tf_keras are untouched."""

import json

import pytest

from trigger.hgq2_env import OVERLAY, run

PROBE = """
import json, sys
import numpy as np
import keras
import qkeras
from hgq.config import LayerConfigScope, QuantizerConfigScope
from hgq.layers import QDense

keras.utils.set_random_seed(1)
with QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM"), \\
        QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP"), \\
        LayerConfigScope(enable_ebops=True, beta0=1e-5):
    inputs = keras.Input((16,))
    hidden = QDense(16, activation="relu")(QDense(32, activation="relu")(inputs))
    model = keras.Model(inputs, QDense(5)(hidden))
x = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
model.compile("adam", "mse")
model.fit(x, x[:, :5], epochs=2, batch_size=100, verbose=0)  # per-element bits differ: hls4ml keeps the quantizers

import hls4ml
config = hls4ml.utils.config_from_keras_model(model, granularity="name")
project = hls4ml.converters.convert_from_keras_model(model, hls_config=config, output_dir=sys.argv[1], backend="Vitis",
                                                     io_type="io_parallel")
project.compile()
csim, keras_out = project.predict(x), model.predict(x, verbose=0)

from trigger.emulate import Emulator
from trigger.firmware import from_hls
from trigger.rtl.twin import trace

graph = from_hls(project, "probe")
emulated = Emulator(graph)(x)
print(json.dumps({"keras": keras.__version__, "qkeras": qkeras.__file__,
                  "exact": float(np.mean(np.all(csim == keras_out, axis=1))), "max_diff": float(np.abs(csim - keras_out).max()),
                  "ops": sorted({s.op for s in graph.steps}), "emulator_exact": float(np.mean(np.all(emulated == csim, axis=1))),
                  "twin_exact": float(np.mean(np.all(trace(graph, 3).predict(x) == emulated, axis=1)))}))
"""


@pytest.mark.slow
def test_hgq2_process_converts_bit_exact_and_leaves_qkeras_alone(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    out = json.loads(run(["probe.py", str(tmp_path / "project")], cwd=tmp_path, what="the HGQ2 probe").stdout.splitlines()[-1])
    assert out["keras"].startswith("3.")
    assert out["qkeras"].startswith(str(OVERLAY)), "in the HGQ2 process, `qkeras` is the hgq2 wheel's"
    assert out["exact"] == 1.0 and out["max_diff"] == 0.0
    # the toolkit's fixed-point graph reads HGQ2's per-element quantizers: emulator and RTL-twin trace equal the csim
    assert "quantize" in out["ops"] and out["emulator_exact"] == 1.0 and out["twin_exact"] == 1.0

    import trigger.keras2  # noqa: F401  (this process: Keras 2)
    import qkeras
    from trigger.keras2 import keras

    assert qkeras.__version__ == "0.9.0" and not qkeras.__file__.startswith(str(OVERLAY))
    assert keras.__version__.startswith("2.")


def test_hgq2_process_failure_is_one_line(tmp_path):
    (tmp_path / "bad.py").write_text("import hgq\nraise SystemExit('no model here')\n")
    from trigger.errors import TriggerError

    with pytest.raises(TriggerError) as info:
        run(["bad.py"], cwd=tmp_path, what="the HGQ2 training of x")
    assert str(info.value) == "the HGQ2 training of x failed (exit 1): no model here"
