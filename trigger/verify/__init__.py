"""Verification stage: csim vs quantized Keras (bit-exact), vs float (task metrics), overflow, budget."""
