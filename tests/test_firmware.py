"""hls4ml configuration from the spec."""

import pytest

from trigger.errors import TriggerError
from trigger.firmware import Settings
from trigger.firmware.project import hls_config
from trigger.spec import spec_from_dict
from trigger.tasks import task_of

from conftest import tiny_spec


@pytest.fixture(scope="module")
def model():
    return task_of(spec_from_dict(tiny_spec())).build(7, 3, quantized=True)


def test_config_follows_spec(model):
    raw = tiny_spec(input={"precision": "ap_fixed<12,4>"},
                    firmware={"reuse_factor": 2, "strategy": "Resource",
                              "layers": {"dense_2": {"Precision": {"result": "ap_fixed<20,8>"}}}})
    config = hls_config(model, Settings.of(spec_from_dict(raw), "Vitis"))
    assert config["Model"]["Strategy"] == "Resource"
    assert config["Model"]["ReuseFactor"] == 2
    layers = config["LayerName"]
    assert layers["inputs"]["Precision"]["result"] == "ap_fixed<12,4>"
    assert layers["dense_2"]["Precision"]["result"] == "ap_fixed<20,8>"
    assert layers["dense_1"]["Precision"]["result"] == "auto"  # exact accumulation unless overridden
    assert layers["dense_1"]["Precision"]["weight"].startswith("fixed<6,1")
    assert layers["relu_1"]["Precision"]["result"].startswith("ufixed<6,0,RND_CONV,SAT")
    assert all(layer["ReuseFactor"] == 2 and layer["Trace"] for layer in layers.values())


def test_unknown_layer_override_is_named(model):
    raw = tiny_spec(firmware={"layers": {"dense_9": {"ReuseFactor": 4}}})
    with pytest.raises(TriggerError, match=r"firmware\.layers\.dense_9: no such layer"):
        hls_config(model, Settings.of(spec_from_dict(raw), "Vivado"))
