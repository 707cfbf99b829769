"""Dataset readers by name: ``facefair datasets`` lists them, ``load_dataset`` calls them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, unknown_name
from .base import FaceData
from .celeba import load_celeba
from .fairface import load_fairface
from .manifest import load_manifest
from .synthetic import make_synthetic
from .utkface import load_utkface


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[..., FaceData]
    needs_root: bool
    summary: str
    default_target: str
    default_protected: str


DATASETS: dict[str, DatasetInfo] = {
    i.name: i for i in [
        DatasetInfo("synthetic", make_synthetic, False,
                    "procedural biased faces: target smile, protected group (skin tone), hair",
                    "smile", "group"),
        DatasetInfo("celeba", load_celeba, True,
                    "CelebA official layout (img_align_celeba[.zip], list_attr_celeba.txt, "
                    "list_eval_partition.txt); 40 binary attributes", "Smiling", "Male"),
        DatasetInfo("fairface", load_fairface, True,
                    "FairFace official layout (train/ val/ or the zip, fairface_label_*.csv); "
                    "gender, race (7), age; val is the test split", "gender", "race"),
        DatasetInfo("utkface", load_utkface, True,
                    "UTKFace age_gender_race_date.jpg names; gender, race (5), age bins",
                    "gender", "race"),
        DatasetInfo("manifest", load_manifest, False,
                    "any CSV manifest: image path column + label columns (+ optional split)",
                    "", ""),
    ]
}


def load_dataset(name: str, root: str | Path | None = None, **options: Any) -> FaceData:
    """Load a dataset by registered name in its official layout.

    Parameters
    ----------
    name
        a registered reader (``facefair datasets``): celeba, fairface, utkface, manifest, synthetic.
    root
        the dataset's folder; for ``manifest``, defaults to the manifest's folder.
    **options
        the reader's options (``manifest=FILE``, ``split_seed``, ``correlation`` for
        synthetic, ...); an unknown one is an error naming those the reader takes.
    """
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    info = DATASETS[name]
    params = inspect.signature(info.loader).parameters
    for k in options:
        if k not in params:
            raise ConfigError(f"dataset {name} takes no option '{k}' "
                              f"(options: {', '.join(p for p in params if p != 'root')})")
    if info.needs_root:
        if root is None:
            raise ConfigError(f"dataset {name} needs --root DIR (its official layout)")
        return info.loader(root, **options)
    if name == "manifest":
        if "manifest" not in options:
            raise ConfigError("dataset manifest needs --manifest FILE.csv")
        return info.loader(root=root, **options)
    return info.loader(**options)
