"""Quantization engines: one class per way of quantizing a network, found by `model.engine` in one registry.

Each class (trigger/engines/base.py says what it answers) owns building, the engine-specific training, loading
and what hls4ml sees differently. A new engine is one new class added to ENGINES.
"""

from trigger.engines.base import Engine, LayerOutputs
from trigger.engines.hgq2 import HGQ2
from trigger.engines.qkeras import QKeras

ENGINES: dict[str, type[Engine]] = {cls.name: cls for cls in (QKeras, HGQ2)}


def engine_of(spec) -> Engine:
    return ENGINES[spec.model.engine](spec)


__all__ = ["ENGINES", "Engine", "HGQ2", "LayerOutputs", "QKeras", "engine_of"]
