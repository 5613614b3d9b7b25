"""The data stage: a spec's ROOT files (its own, or a generator's) as numpy features and the task's
labels, the firmware-reproducible preprocessing, and the seeded split."""

from trigger.data.dataset import Dataset, Source, Split, data_files, dataset_lines, load_dataset, split
from trigger.data.preprocess import Preprocessing, fit_preprocessing
from trigger.data.reader import read_columns

__all__ = ["Dataset", "Source", "Split", "Preprocessing", "data_files", "fit_preprocessing", "load_dataset",
           "read_columns", "split", "dataset_lines"]
