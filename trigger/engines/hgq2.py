"""HGQ2: a bit width learned for every weight, bias and activation (high-granularity quantization).

The loss is the task's + beta * EBOPs (HGQ2's count of the bits the firmware's multipliers and adders take), with
beta raised geometrically from model.hgq.beta_start to model.hgq.beta over model.hgq.beta_ramp_epochs (default: all
epochs), then held; a weight whose width reaches 0 is pruned, so there is no tfmot here. Activations wrap (WRAP) at
integer bits that follow the data: after training they are set from the whole training sample (HGQ2's trace_minmax),
so only an input beyond anything seen in training wraps, in Keras and firmware alike (the overflow audit counts it). Weights and biases saturate (SAT_SYM).

HGQ2 needs Keras 3 and ships its own `qkeras`, so it runs only in an HGQ2 process (trigger/hgq2_env.py); hgq is
imported inside the methods, and anything asked of this engine elsewhere is a one-line error.
"""

import numpy as np

from trigger.engines.base import Engine, LayerOutputs
from trigger.errors import TriggerError
from trigger.fixed import FixedType
from trigger.hgq2_env import inside
from trigger.keras2 import keras
from trigger.models import INPUT_NAME, build_model


class HGQ2(Engine):
    name = "hgq2"
    versions = ("hls4ml", "hgq2", "quantizers", "keras", "tensorflow")
    input_from_model = True
    hgq2_process = True
    quantizers_are_layers = True

    def _require(self) -> None:
        if not inside():
            raise TriggerError(f"{self.spec.path or self.spec.name}: model.engine hgq2 runs in an HGQ2 process only; "
                               "`trigger train`, `synth`, `rtl`, `export` and `bench` start one, this command does not")

    def build(self, n_in, n_out, quantized, output_precision=None) -> keras.Model:
        """dense_1 ... dense_n (ReLU inside, as hls4ml needs it for a bit-exact HGQ2 model), then logits, each with
        its own input quantizer; a regressor's `outputs` instead, rounded and saturated into `output_precision` by a
        fixed (untrained) quantizer `outputs_q`, as the QKeras regressor is. The float twin is the QKeras engine's
        (plain Keras 3 layers)."""
        self._require()
        m = self.spec.model
        if not quantized:
            return build_model(m, self.spec.input.precision, n_in, n_out, quantized=False,
                               output_precision=output_precision)
        from hgq.config import LayerConfigScope, QuantizerConfigScope
        from hgq.layers import QDense
        from hgq.quantizer import Quantizer

        h = m.hgq
        with QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM"), \
                QuantizerConfigScope(q_type="kbi", place=("weight", "bias"), b0=h.init_weight_bits), \
                QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP"), \
                QuantizerConfigScope(q_type="kif", place="datalane", f0=h.init_activation_fraction_bits), \
                LayerConfigScope(enable_ebops=True, beta0=h.beta_start):
            x = inputs = keras.Input((n_in,), name=INPUT_NAME)
            for i, width in enumerate(m.hidden, start=1):
                x = QDense(width, activation="relu", kernel_initializer="lecun_uniform", name=f"dense_{i}")(x)
            if output_precision is None:
                return keras.Model(inputs, QDense(n_out, kernel_initializer="lecun_uniform", name="logits")(x),
                                   name="quantized")
            out = FixedType.parse(output_precision)
            x = QDense(n_out, kernel_initializer="lecun_uniform", name="outputs")(x)
            rounded = Quantizer(q_type="kif", place="datalane", k0=out.signed, i0=out.integer - out.signed,
                                f0=out.width - out.integer, overflow_mode="SAT", round_mode="RND", trainable=False,
                                name="outputs_q")
            return keras.Model(inputs, rounded(x), name="quantized_regressor")

    def train_quantized(self, build, start, fit, x):
        from hgq.utils import trace_minmax
        from hgq.utils.sugar import BetaScheduler, FreeEBOPs, PieceWiseSchedule

        self._require()
        h, epochs = self.spec.model.hgq, self.spec.train.epochs
        model = build()
        if start is not None:  # the float twin's kernels and biases; the bit widths start from model.hgq
            for layer in model.layers[1:]:
                kernel, bias = start.get_layer(layer.name).get_weights()
                layer.kernel.assign(kernel)
                layer.bias.assign(bias)
        ramp = "log" if h.beta_start > 0 else "linear"
        ramp_end = h.beta_ramp_epochs or max(epochs - 1, 1)
        beta = PieceWiseSchedule([(0, h.beta_start, ramp), (ramp_end, h.beta, "constant")])
        history = fit(model, [BetaScheduler(beta), FreeEBOPs()])
        trace_minmax(model, x, batch_size=4096)  # the integer bits of every WRAP quantizer: the training range
        return model, history

    def sparsity(self, model) -> dict:
        """The quantized kernels' zeros (bit widths trained to 0, or values rounded to 0), and the final EBOPs."""
        from keras import ops

        out, zeros, total = {}, 0, 0
        dense = [layer for layer in model.layers[1:] if hasattr(layer, "qkernel")]
        for layer in dense:
            k = ops.convert_to_numpy(layer.qkernel)
            out[layer.name] = round(float(np.mean(k == 0)), 4)
            zeros += int((k == 0).sum())
            total += k.size
        out["total"] = round(zeros / max(total, 1), 4)
        out["ebops"] = int(sum(int(layer.ebops) for layer in dense))
        out["method"] = "quantized weights that are 0 (HGQ2 prunes through bit widths; train.sparsity does not apply)"
        return out

    def describe_sparsity(self, sparsity: dict) -> str:
        return f"zero weights {sparsity['total']:.2f} from learned bit widths, EBOPs {sparsity['ebops']}"

    def custom_objects(self) -> dict:
        self._require()
        import hgq  # noqa: F401  (registers HGQ2's layers and quantizers with Keras)

        return {}

    def layer_outputs(self, model, x):
        """hls4ml splits each QDense into its input quantizer `<name>_iq`, the Dense `<name>` and, with a ReLU,
        `<name>_relu`: their outputs, computed with the layer's own quantizers and ops (what its call does). The
        Dense and ReLU types hls4ml derives keep only the bits the next quantizer reads (narrowed)."""
        from keras import ops

        out, wrapping = {}, set()
        h = ops.convert_to_tensor(np.asarray(x, np.float32))
        for layer in model.layers[1:]:
            if not hasattr(layer, "qkernel"):  # a regressor's fixed output quantizer, a layer of its own in hls4ml too
                h = layer(h, training=False)
                out[layer.name] = h
                wrapping.add(layer.name)
                continue
            q = layer.iq(h, training=False)
            h = ops.add(ops.matmul(q, layer.qkernel), layer.qbias)
            out[f"{layer.name}_iq"], out[layer.name] = q, h
            wrapping.add(f"{layer.name}_iq")
            if layer.activation is not None and layer.activation.__name__ == "relu":
                h = layer.activation(h)
                out[f"{layer.name}_relu"] = h
        values = {k: np.asarray(ops.convert_to_numpy(v), np.float64) for k, v in out.items()}
        return LayerOutputs(values, wrapping, narrowed=True)
