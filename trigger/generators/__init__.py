"""Built-in event generators: one dataclass per generator holds its settings (a spec's
data.generator, chosen by `name`) and its physics; `generate` runs it in chunks on Dask,
cached under <data root>/<name>-<key>/ with a dataset card.
"""

from trigger.generators.anomaly import HT_JET_ETA, HT_JET_PT_GEV, AnomalyGenerator
from trigger.generators.base import Generator
from trigger.generators.detector import DetectorSettings
from trigger.generators.jets import JetGenerator
from trigger.generators.runner import Interrupted, cache_key, chunk_plan, data_root, dataset_dir, generate
from trigger.generators.toy import ToyGenerator
from trigger.generators.ttbar import TtbarGenerator

GENERATORS: dict[str, type[Generator]] = {cls.name: cls for cls in (JetGenerator, TtbarGenerator, AnomalyGenerator, ToyGenerator)}

__all__ = ["GENERATORS", "Generator", "JetGenerator", "TtbarGenerator", "AnomalyGenerator", "ToyGenerator", "DetectorSettings",
           "HT_JET_PT_GEV", "HT_JET_ETA", "generate", "data_root", "dataset_dir", "chunk_plan", "cache_key", "Interrupted"]
