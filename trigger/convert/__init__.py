"""`trigger convert`: bring your own Keras/QKeras model to the same firmware path, harness, report and bundle."""

from trigger.convert.inputs import UserModel, load_hls_config, load_sample, load_user_model, prepare
from trigger.convert.run import ConvertOptions, convert

__all__ = ["ConvertOptions", "UserModel", "convert", "load_hls_config", "load_sample", "load_user_model", "prepare"]
