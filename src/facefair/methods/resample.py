"""Balanced resampling: every (target class, protected group) cell is drawn equally often.

Wang et al., "Towards Fairness in Visual Recognition: Effective Strategies for Bias
Mitigation" (CVPR 2020), the sampling baseline beside reweighting. Where reweighting keeps
the data order and scales the loss, resampling keeps the loss plain and changes what is
seen: each epoch draws n training images with replacement, image i with probability
proportional to 1 / n(y_i, g_i), so each of the K * G cells fills 1 / (K G) of the draws in
expectation (rare cells are oversampled, common ones undersampled). The draws come from the
trainer's seeded sampling hook, so runs repeat and resume exactly.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .base import register
from .erm import ERM
from .reweight import cell_weights

if TYPE_CHECKING:
    from .base import RunSetup

log = logging.getLogger(__name__)


@register
class Resample(ERM):
    """ERM's step on batches drawn by :meth:`sample_weights`."""

    name = "resample"
    summary = "balanced resampling (Wang et al. 2020): draw every (class, group) cell equally often"
    uses_protected = True

    def sample_weights(self, run: RunSetup) -> np.ndarray:
        idx = run.train_ds.indices
        y, g = run.task.y[idx], run.task.group[idx]
        w = cell_weights(y, g, len(run.task.y_classes), run.task.n_groups)
        log.info("resampling: each (class, group) cell drawn with probability 1/"
                f"{w.size} per image (cell sizes {np.bincount(y * run.task.n_groups + g, minlength=w.size).tolist()})")
        return w[y, g]
