"""Datasets (numpy arrays, optional torch views) and spike encoders (time first ``[T, B, ...]``).

Nothing heavy is imported here: torch is imported only when a torch tensor is passed or asked for,
scikit-learn only when ``digits`` is loaded.
"""

from neuro.data.datasets import (
    DATA_DIR_ENV,
    DATASETS,
    FASHION_MNIST,
    IDX_SOURCES,
    MNIST,
    Dataset,
    DatasetSplits,
    IdxFile,
    IdxSource,
    default_cache_dir,
    download_file,
    load_dataset,
    load_splits,
    read_idx,
    stratified_split,
)
from neuro.data.encoding import ENCODERS, delta, latency, rate

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "ENCODERS",
    "FASHION_MNIST",
    "IDX_SOURCES",
    "MNIST",
    "Dataset",
    "DatasetSplits",
    "IdxFile",
    "IdxSource",
    "default_cache_dir",
    "delta",
    "download_file",
    "latency",
    "load_dataset",
    "load_splits",
    "rate",
    "read_idx",
    "stratified_split",
]
