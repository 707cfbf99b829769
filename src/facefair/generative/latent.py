"""Geometry in a generator's latent space: the separating hyperplanes and the protected-flip of
latent-space debiasing (Ramaswamy, Kim and Russakovsky, CVPR 2021), and SMOTE interpolation
between same-cell codes (g-SMOTE, Zietlow et al., CVPR 2022). Pure functions of tensors, so the
methods' tests check them on planted latents with known answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError


@dataclass
class Hyperplane:
    """{z : w.z + b = 0} with a unit normal w; w.z + b > 0 on the positive side."""

    w: torch.Tensor
    b: float

    def score(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.w + self.b


def fit_hyperplane(z: torch.Tensor, labels: torch.Tensor, l2: float = 1e-4) -> Hyperplane:
    """A linear separator of binary labels in latent space (L2-regularised logistic regression;
    the paper fits a linear SVM, whose normal points the same way on separable data), scaled
    to a unit normal so that w.z + b is the signed distance to the plane."""
    from ..analysis.probe import fit_logistic  # (analysis imports the methods, which import this)

    y = labels.long().cpu().numpy()
    if len(np.unique(y)) != 2:
        raise ConfigError(f"a latent hyperplane needs both classes among the labelled samples, got {np.unique(y).tolist()}")
    lin = fit_logistic(z.double().cpu().numpy(), y, l2)
    w, b = lin.weight.detach().double().flatten(), float(lin.bias.detach())
    norm = float(w.norm())
    if norm == 0:
        raise ConfigError("the latent labels could not be separated (zero normal)")
    return Hyperplane((w / norm).float(), b / norm)


def flip_protected(z: torch.Tensor, target: Hyperplane, protected: Hyperplane) -> torch.Tensor:
    """z' = z - 2 (w_g.z + b_g) / (1 - (w_g.w_t)^2) * (w_g - (w_g.w_t) w_t): the same signed
    distance to the target plane, the negated one to the protected plane (SPEC)."""
    wt, wg = target.w.to(z), protected.w.to(z)
    c = float(wg @ wt)
    if abs(c) > 1 - 1e-6:
        raise ConfigError("the target and protected hyperplanes are parallel: no latent edit keeps one "
                          "score and flips the other")
    direction = wg - c * wt
    return z - (2 * protected.score(z) / (1 - c * c)).unsqueeze(1) * direction


def smote(codes: torch.Tensor, n_new: int, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor,
                                                                                        torch.Tensor, torch.Tensor]:
    """n_new codes, each on the segment from a random code to one of its k nearest neighbours
    (Euclidean) among ``codes`` (one cell's): c = z_i + lam (z_j - z_i), lam ~ U(0, 1).
    Returns (new codes, i, j, lam). A cell of one code repeats it."""
    n = len(codes)
    if n == 0 or n_new <= 0:
        return codes[:0], torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0)
    i = torch.randint(n, (n_new,), generator=generator)
    if n == 1:
        return codes[i].clone(), i, i.clone(), torch.zeros(n_new)
    kk = min(k, n - 1)
    neighbours = nearest(codes.float(), kk)
    j = neighbours[i, torch.randint(kk, (n_new,), generator=generator)]
    lam = torch.rand(n_new, generator=generator)
    return codes[i] + lam.unsqueeze(1) * (codes[j] - codes[i]), i, j, lam


def nearest(codes: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """The k nearest other codes of each code (n, k), a chunk of rows at a time (bounded memory)."""
    out = []
    for start in range(0, len(codes), chunk):
        d = torch.cdist(codes[start:start + chunk], codes)
        rows = torch.arange(d.shape[0])
        d[rows, rows + start] = float("inf")  # not its own neighbour
        out.append(d.topk(k, largest=False).indices)
    return torch.cat(out)
