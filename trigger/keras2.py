"""Legacy Keras 2 bootstrap: import this before TensorFlow, QKeras, tfmot or hls4ml.

QKeras and tfmot only work with Keras 2 (tf_keras), and hls4ml picks its parser from
``keras.__version__``. So TensorFlow must be told to use the legacy Keras, and a plain
``import keras`` must resolve to ``tf_keras``, before any of them is imported. hls4ml 1.3.0
also still calls ``np.product`` (for power-of-two weights), which numpy 2 removed: it gets
``np.prod`` under that name, so the pinned stack stays as it is.

The one exception is an HGQ2 process (trigger/hgq2_env.py sets TRIGGER_KERAS=3): HGQ2 needs
Keras 3, so there ``keras`` is Keras 3 and QKeras and tfmot are never imported.
"""

import importlib
import os
import sys
import warnings

import numpy as np

# An HGQ2 process (trigger/hgq2_env.py) says so: there `keras` stays Keras 3 and QKeras is never imported.
KERAS3 = os.environ.get("TRIGGER_KERAS") == "3"
if not KERAS3:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log noise; Python errors still raise
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only: skip the CUDA probe and its warnings
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # identical float results run to run

if not KERAS3 and "keras" in sys.modules and not sys.modules["keras"].__version__.startswith("2."):
    raise ImportError("Keras 3 was imported before trigger.keras2; import trigger.keras2 first")


def _import_quietly(name: str):
    """TensorFlow's C++ logs CUDA probes to fd 2 before its log level applies; hide only that."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        return importlib.import_module(name)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


tf = _import_quietly("tensorflow")
if KERAS3:
    import keras  # noqa: E402
else:
    import tf_keras as keras  # noqa: E402

    sys.modules["keras"] = keras
# QKeras quantizers are serialised through keras.constraints; harmless, but noisy.
warnings.filterwarnings("ignore", message=r"The `keras\.constraints\.serialize\(\)` API")

tf.get_logger().setLevel("ERROR")
if not hasattr(np, "product"):
    np.product = np.prod  # hls4ml 1.3.0 model/types.py (quantized_po2 weights)

__all__ = ["KERAS3", "keras", "tf"]
