"""Verification: csim against the quantized Keras model (0 LSB, first diverging layer), the overflow
audit, the emulator benchmark and background rates (both checked against the csim)."""

from trigger.verify import background_rates
from trigger.verify.bench import bench
from trigger.verify.compare import Agreement, compare, describe, first_divergence, keras_layer_outputs
from trigger.verify.harness import BackendResult, Reference, check, run
from trigger.verify.overflow import audit
from trigger.verify.plots import csim_scatter

__all__ = ["Agreement", "BackendResult", "Reference", "audit", "background_rates", "bench", "check", "compare",
           "csim_scatter", "describe", "first_divergence", "keras_layer_outputs", "run"]
