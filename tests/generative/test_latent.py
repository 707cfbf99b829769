"""Latent-space geometry with known answers: the protected flip of latent-space debiasing keeps
the target distance and negates the protected one; SMOTE codes lie on segments between a code
and one of its nearest neighbours in the same cell; the Frechet distance of two Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facefair.errors import ConfigError
from facefair.generative.latent import Hyperplane, fit_hyperplane, flip_protected, nearest, smote
from facefair.generative.quality import frechet_distance
from facefair.methods.gsmote import balance_counts


def planted(n: int = 4000, d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes labelled by two planted planes at 60 degrees: target u.z > 0, protected v.z + 0.3 > 0."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=gen)
    u = torch.zeros(d)
    u[0] = 1.0
    v = torch.zeros(d)
    v[0], v[1] = 0.5, 3 ** 0.5 / 2
    return z, u, v, (z @ u > 0).long(), (z @ v + 0.3 > 0).long()


def test_fitted_planes_recover_the_planted_ones() -> None:
    z, u, v, yt, yg = planted()
    ht, hg = fit_hyperplane(z, yt), fit_hyperplane(z, yg)
    assert float(ht.w.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(ht.w @ u) > 0.99 and float(hg.w @ v) > 0.99
    assert abs(ht.b) < 0.05 and hg.b == pytest.approx(0.3, abs=0.05)


def test_flip_keeps_the_target_distance_and_negates_the_protected_one() -> None:
    z, u, v, yt, yg = planted()
    ht, hg = fit_hyperplane(z, yt), fit_hyperplane(z, yg)
    z2 = flip_protected(z, ht, hg)
    assert torch.allclose(ht.score(z2), ht.score(z), atol=1e-4)  # exact by construction
    assert torch.allclose(hg.score(z2), -hg.score(z), atol=1e-4)
    # and on the planted truth the labels do what the method needs: group flipped, target kept
    far = (hg.score(z).abs() > 0.1) & (ht.score(z).abs() > 0.1)  # away from the fitted planes
    assert ((z2 @ v + 0.3 > 0).long() != yg)[far].float().mean() > 0.97
    assert ((z2 @ u > 0).long() == yt)[far].float().mean() > 0.97


def test_flip_of_a_hand_computed_point() -> None:
    t = Hyperplane(torch.tensor([1.0, 0.0]), 0.0)
    g = Hyperplane(torch.tensor([0.6, 0.8]), -0.2)  # cos(w_g, w_t) = 0.6
    z = torch.tensor([[1.0, 1.0]])  # w_g.z + b_g = 1.2; direction w_g - 0.6 w_t = (0, 0.8)
    assert torch.allclose(flip_protected(z, t, g), torch.tensor([[1.0, 1.0 - 2 * 1.2 / 0.64 * 0.8]]))


def test_parallel_planes_and_one_class_are_refused() -> None:
    h = Hyperplane(torch.tensor([1.0, 0.0]), 0.0)
    with pytest.raises(ConfigError, match="parallel"):
        flip_protected(torch.zeros(1, 2), h, h)
    with pytest.raises(ConfigError, match="both classes"):
        fit_hyperplane(torch.randn(10, 2), torch.ones(10))


def test_smote_codes_lie_between_a_code_and_one_of_its_neighbours() -> None:
    gen = torch.Generator().manual_seed(1)
    codes = torch.randn(40, 5, generator=gen)
    new, i, j, lam = smote(codes, 200, 3, torch.Generator().manual_seed(2))
    assert new.shape == (200, 5) and bool(((lam >= 0) & (lam <= 1)).all())
    assert torch.allclose(new, codes[i] + lam.unsqueeze(1) * (codes[j] - codes[i]))
    knn = nearest(codes, 3)
    assert all(int(jj) in knn[int(ii)].tolist() and ii != jj for ii, jj in zip(i, j))
    # brute force: the 3 nearest others of each code
    d = torch.cdist(codes, codes) + torch.eye(40) * 1e9
    assert torch.equal(knn.sort(1).values, d.topk(3, largest=False).indices.sort(1).values)


def test_smote_of_one_code_repeats_it_and_counts_balance_the_cells() -> None:
    one = torch.ones(1, 3)
    new, *_ = smote(one, 4, 5, torch.Generator().manual_seed(0))
    assert torch.equal(new, one.repeat(4, 1))
    assert balance_counts({(0, 0): 10, (0, 1): 4, (1, 0): 7, (1, 1): 1}) == {(0, 0): 0, (0, 1): 6, (1, 0): 3, (1, 1): 9}
    assert balance_counts({(0, 0): 10, (1, 0): 0}, cap=5) == {(0, 0): 0, (1, 0): 5}


def test_frechet_distance_known_answer() -> None:
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-6)
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]  # invariant to a rotation of both
    assert frechet_distance(rot @ mu1, rot @ np.diag(a) @ rot.T, rot @ mu2, rot @ np.diag(b) @ rot.T) == \
        pytest.approx(expected, abs=1e-5)
