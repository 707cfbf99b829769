"""Face datasets in their official layouts, the synthetic biased faces, and the prepared cache."""

from .base import SPLITS, FaceData, Task
from .cache import default_cache_dir, load_cache, prepare
from .images import decode_image
from .registry import DATASETS, load_dataset

__all__ = ["DATASETS", "SPLITS", "FaceData", "Task", "decode_image", "default_cache_dir",
           "load_cache", "load_dataset", "prepare"]
