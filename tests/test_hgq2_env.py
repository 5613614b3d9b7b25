"""The HGQ2 environment (trigger/hgq2_env.py): HGQ2 runs beside QKeras without touching it.

The facts issue 20 measured, kept true: in an HGQ2 process `keras` is Keras 3 and the hgq2 wheel's own
`qkeras` shadows QKeras, and an HGQ2 model converts through the venv's hls4ml to a csim equal to the
model at 0 LSB; in a trigger process QKeras 0.9.0 and tf_keras are untouched."""

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
    inputs = keras.Input((8,))
    model = keras.Model(inputs, QDense(3)(QDense(8, activation="relu")(inputs)))
x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
model.compile("adam", "mse")
model.fit(x, x[:, :3], epochs=1, batch_size=100, verbose=0)

import hls4ml
config = hls4ml.utils.config_from_keras_model(model, granularity="name")
project = hls4ml.converters.convert_from_keras_model(model, hls_config=config, output_dir=sys.argv[1], backend="Vitis",
                                                     io_type="io_parallel")
project.compile()
csim, keras_out = project.predict(x), model.predict(x, verbose=0)
print(json.dumps({"keras": keras.__version__, "qkeras": qkeras.__file__,
                  "exact": float(np.mean(np.all(csim == keras_out, axis=1))), "max_diff": float(np.abs(csim - keras_out).max())}))
"""


@pytest.mark.slow
def test_hgq2_process_converts_bit_exact_and_leaves_qkeras_alone(tmp_path):
    (tmp_path / "probe.py").write_text(PROBE)
    out = json.loads(run(["probe.py", str(tmp_path / "project")], cwd=tmp_path, what="the HGQ2 probe").stdout.splitlines()[-1])
    assert out["keras"].startswith("3.")
    assert out["qkeras"].startswith(str(OVERLAY)), "in the HGQ2 process, `qkeras` is the hgq2 wheel's"
    assert out["exact"] == 1.0 and out["max_diff"] == 0.0

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
