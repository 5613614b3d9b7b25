"""Precisions `trigger convert` chooses or recommends, and says so.

- Softmax: hls4ml's stable softmax addresses a 1024-entry exp table with the top 10 bits of
  x_max - x, in a type derived from its input; behind an exact ('auto', e.g. ap_fixed<38,18>)
  Dense that is a step of 2^7 and every event comes out 1/N. Chosen instead (a user's config
  wins): x_max - x in ap_ufixed<18,3> (0..8, step 1/128, saturating: e^-8 is 3e-4), e^x and
  1/sum in ap_ufixed<18,1>, the sum in ap_ufixed<18,k> with 2^k > N (step 2^k/1024).
- Recommendations from the overflow audit: each layer keeps its fractional bits and gets the
  integer bits its observed values need. A layer that clips in Keras too (a QKeras activation,
  the input) is never widened: its clipping is part of the trained model.
"""

import math
from pathlib import Path

import yaml

from trigger.atomic import write_text
from trigger.fixed import FixedType

RECOMMENDATION_HEADER = """\
# Precisions recommended by `trigger convert` from the overflow audit on the input sample: each layer
# keeps its fractional bits and gets the integer bits its observed values need. Only layers that
# saturated on the sample (and do not clip in Keras too) are listed; layers that could be narrowed
# are in metrics.json (recommended_precisions, action 'narrow'). Pass this file back with --hls-config.
"""


def softmax_types(classes: int) -> dict[str, str]:
    """Table and intermediate types of hls4ml's stable softmax for `classes` outputs (module docstring)."""
    sum_bits = max(1, math.ceil(math.log2(classes + 1)))
    return {"inp_norm_t": "ap_ufixed<18,3,AP_RND,AP_SAT>", "exp_table_t": "ap_ufixed<18,1,AP_RND,AP_SAT>",
            "inv_table_t": "ap_ufixed<18,1,AP_RND,AP_SAT>", "inv_inp_t": f"ap_ufixed<18,{sum_bits},AP_RND,AP_SAT>"}


def recommend(audit: dict) -> dict:
    """Per layer: the integer bits the observed values need, keeping the fractional bits; saturation widens,
    except where Keras clips the same way."""
    out, first = {}, next(iter(audit), None)
    for name, entry in audit.items():
        current = FixedType.parse(f"ap_{entry['type']}")  # the audit writes fixed<W,I> / ufixed<W,I>
        lo, hi = entry["observed"]
        need = _integer_bits(lo, hi, current.signed, current.lsb)
        kind = "ap_fixed" if current.signed else "ap_ufixed"
        action = "widen" if need > current.integer else "narrow" if need < current.integer else "keep"
        if action == "widen" and entry["clip_in_keras"] and name != first:
            action, need = "keep (clips in Keras too)", current.integer
        out[name] = {"current": str(current), "recommended": f"{kind}<{need + current.frac},{need}>", "action": action,
                     "observed": [lo, hi], "saturated": entry["saturated"]}
    return out


def _integer_bits(lo: float, hi: float, signed: bool, lsb: float) -> int:
    top = max(hi + lsb, lsb)
    bits = math.floor(math.log2(top)) + 1 if top > 0 else 0
    if signed:
        bits = max(bits + 1, math.ceil(math.log2(-lo)) + 1 if lo < 0 else 1)
    return bits


def write_recommendations(path: Path, recommendations: dict, layers: list[str], log=print) -> None:
    """The layers that saturated, widened, as an hls4ml config to pass back; the input type is an option instead."""
    input_layer = next(iter(recommendations))  # the audit walks the graph from its Input layer
    changes = {}
    for name, r in recommendations.items():
        if r["action"] == "widen" and name != input_layer:
            changes[name] = {"Precision": {"result": r["recommended"]}}
            if f"{name}_linear" in layers:  # hls4ml keeps a Dense's linear activation once its type is set
                changes[f"{name}_linear"] = {"Precision": {"result": r["recommended"]}}
        if r["action"] == "widen" or (name == input_layer and r["action"] != "keep"):
            log(f"  precision: {name} holds {r['observed'][0]:.4g}..{r['observed'][1]:.4g} in {r['current']} "
                f"({r['saturated']} saturated): {r['action']} to {r['recommended']}"
                + (" (--input-precision)" if name == input_layer else ""))
    write_text(path, RECOMMENDATION_HEADER + yaml.safe_dump({"LayerName": changes}, sort_keys=False))
    if changes:
        log(f"  recommended precisions: {path} (pass it back with --hls-config)")
