"""trigger: quantized neural networks for the Level-1 trigger, from ROOT file to verified HLS firmware."""

__version__ = "0.1.0"
