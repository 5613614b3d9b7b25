"""Data stage: generators, the generic ROOT reader and writer, and firmware-reproducible preprocessing."""
