"""Firmware: a Keras model as an hls4ml project (FirmwareProject), its fixed-point graph, its port
description (interface.json) and its strict testbench."""

from trigger.firmware import interface, testbench
from trigger.firmware.graph import Graph, Span, Step, annotate, element_types, from_hls, quantize_step
from trigger.firmware.interface import load as load_interface
from trigger.firmware.project import (FirmwareProject, Settings, config_layer_names, merge_config, output_type, project_dir,
                                      projects_root, read_test_vectors)
from trigger.firmware.testbench import require_gxx

__all__ = ["interface", "testbench", "FirmwareProject", "config_layer_names", "Settings", "Graph", "Span", "Step", "annotate", "element_types", "from_hls", "quantize_step", "load_interface", "merge_config",
           "output_type", "project_dir", "projects_root", "require_gxx", "read_test_vectors"]
