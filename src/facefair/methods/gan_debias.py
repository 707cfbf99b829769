"""GAN latent-space debiasing: pairs of generated faces that differ in the protected attribute
and agree on the target.

Ramaswamy, Kim and Russakovsky, "Fair Attribute Classification through Latent Space
De-biasing" (CVPR 2021), as ../shared/SPEC.md pins it: sample z ~ N(0, I); label G(z) with a
target classifier and a protected classifier trained on real data; fit linear separators
(w_t, b_t) and (w_g, b_g) in latent space; pair each z with
z' = z - 2 (w_g.z + b_g) / (1 - (w_g.w_t)^2) * (w_g - (w_g.w_t) w_t), which keeps the signed
distance to the target plane and negates the one to the protected plane; train on the real
images plus (G(z), y_t(z)) and (G(z'), y_t(z)).

What facefair chose where the paper leaves room: the target labeller is a trained run on the
same task (``labeler_run``, or the run being fine-tuned when ``mitigate --from BASE`` starts
from one); the protected labeller is a linear probe on that run's frozen features fitted on
the real training images' protected labels (as ASAC's C); the separators are L2 logistic
regressions (the paper's linear SVMs point the same way on separable labels); ``samples``
defaults to half the training images, so the pairs add as many images as there are real ones.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch
from torch import nn

from ..data.loader import to_input
from ..errors import ConfigError
from ..generative import FaceGenerator
from ..generative.latent import fit_hyperplane, flip_protected
from ..models.protected import freeze, probe_on_frozen_copy
from .base import RunSetup, register
from .synthetic import Pool, SyntheticAugmentation, SyntheticOptions, decode_all, labels_of

log = logging.getLogger(__name__)


@dataclass
class GanDebiasOptions(SyntheticOptions):
    """Latent-space debiasing (Ramaswamy et al. 2021) over the generator's options.

    Attributes
    ----------
    samples: latent samples z (each gives a pair G(z), G(z')); 0: half the training images.
    labeler_run: a trained run on the same target whose labels (and, through a linear probe
        on its features, protected labels) mark the generated faces; empty: the run this one
        starts from (``mitigate --from``).
    """

    samples: int = 0
    labeler_run: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.samples < 0:
            raise ConfigError("--samples must be >= 0")


@register
class GanDebias(SyntheticAugmentation):
    name = "gan_debias"
    summary = ("GAN latent-space debiasing (Ramaswamy et al. 2021): add generated pairs that flip the protected "
               "attribute and keep the target")
    uses_protected = True  # the protected labeller is fit on the real protected labels
    Options = GanDebiasOptions
    options: GanDebiasOptions

    def labeler(self, model: nn.Module, run: RunSetup) -> nn.Module:
        o = self.options
        if o.labeler_run:
            if run.load_run is None:
                raise ConfigError(f"--labeler-run {o.labeler_run}: this caller lends no run loader")
            loaded = run.load_run(o.labeler_run)
            if loaded.cfg.target != run.cfg.target:
                raise ConfigError(f"--labeler-run {o.labeler_run} predicts '{loaded.cfg.target}', not the "
                                  f"target '{run.cfg.target}'")
            return freeze(loaded.model.to(run.device))
        if not run.cfg.init and not run.cfg.weights:
            raise ConfigError("gan_debias labels generated faces with a classifier trained on real data: pass "
                              "--labeler-run RUN, or fine-tune a trained run (facefair mitigate gan_debias --from RUN)")
        return freeze(copy.deepcopy(model))

    def protected_labeler(self, target: nn.Module, run: RunSetup) -> nn.Module:
        """A linear probe on the target labeller's frozen features, fit on the real training
        images' protected labels (as ASAC's C)."""
        return probe_on_frozen_copy(target, run.train_batches(), 2, seed=run.cfg.seed)

    def make_pool(self, model: nn.Module, run: RunSetup, gen: FaceGenerator) -> Pool:
        if run.task.n_groups != 2:
            raise ConfigError(f"gan_debias flips a binary protected attribute; '{run.cfg.protected}' has "
                              f"{run.task.n_groups} groups")
        o, size = self.options, run.cfg.size
        target = self.labeler(model, run)
        protected = self.protected_labeler(target, run)
        n = o.samples or max(len(run.train_ds) // 2, 2)
        z = gen.sample_latent(n, torch.Generator().manual_seed(run.cfg.seed + 17))
        images = decode_all(gen, z, size, run.device)
        x = to_input(images, run.device)  # labelled as stored: rounded to 8 bits
        yt, yg = labels_of(target, x), labels_of(protected, x)
        for labels, names, who, fix in (
                (yt, run.task.y_classes, f"the target labeller ({o.labeler_run or 'the base model'})",
                 "train the labeller longer, or name a better one with labeler_run (--labeler-run)"),
                (yg, run.task.group_classes, "the protected labeller (a probe on the target labeller's features)",
                 "give the labeller a backbone that separates the groups")):
            if len(torch.unique(labels)) < 2:
                raise ConfigError(
                    f"{who} called all {n} generated faces '{names[int(labels[0])]}': a latent hyperplane needs faces "
                    f"of both classes, so GAN debiasing cannot say which direction in the generator's latent "
                    f"space changes the label; {fix}, or generate more faces (samples)")
        ht, hg = fit_hyperplane(z, yt), fit_hyperplane(z, yg)
        z2 = flip_protected(z, ht, hg)
        flipped = decode_all(gen, z2, size, run.device)
        x2 = to_input(flipped, run.device)
        yt2, yg2 = labels_of(target, x2), labels_of(protected, x2)
        self.info = {
            "samples": n, "target_positive_rate": float(yt.float().mean()), "protected_rate": float(yg.float().mean()),
            "hyperplane_cosine": float(ht.w @ hg.w),
            "target_plane_accuracy": float(((ht.score(z) > 0).long() == yt).float().mean()),
            "protected_plane_accuracy": float(((hg.score(z) > 0).long() == yg).float().mean()),
            # how the labellers see the pairs: the edit should flip the group and keep the target
            "pair_protected_flipped": float((yg2 != yg).float().mean()),
            "pair_target_kept": float((yt2 == yt).float().mean()),
        }
        log.info("gan_debias: " + ", ".join(f"{k} {v:.3g}" for k, v in self.info.items()))
        return Pool(torch.cat([images, flipped]), torch.cat([yt, yt]), torch.cat([yg, 1 - yg]))
