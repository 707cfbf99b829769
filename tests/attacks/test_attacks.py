"""FGSM and PGD against independent formulations on a tiny real model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facefair.attacks import FGSM, PGD


def tiny_classifier(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)).eval()


class Counting(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


def test_fgsm_one_gradient_serves_every_eps() -> None:
    model = Counting(tiny_classifier())
    x, a = torch.rand(6, 3, 16, 16), torch.randint(0, 2, (6,))
    eps = [0.0, 0.01, 0.001, 0.05]
    outs = FGSM(model).perturb(x, a, eps)
    assert model.calls == 1
    assert all(p.grad is None for p in model.parameters())  # C is never updated
    # independent formulation: autograd on the mean loss, one eps at a time
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(model.inner(xr), a).backward()
    for e, out in zip(eps, outs):
        ref = (x + e * xr.grad.sign()).clamp(0, 1)
        assert torch.equal(out, ref)
    assert torch.equal(outs[0], x)


def test_pgd_stays_in_ball_and_beats_fgsm() -> None:
    model = tiny_classifier(1)
    x, a = torch.rand(32, 3, 16, 16), torch.randint(0, 2, (32,))
    for e in (0.03, 0.1, 0.3):
        adv = PGD(model, steps=10, generator=torch.Generator().manual_seed(0)).run(x, a, e)
        assert (adv - x).abs().max() <= e + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        fg = FGSM(model).perturb(x, a, [e])[0]
        with torch.no_grad():
            l_pgd = F.cross_entropy(model(adv), a)
            l_fgsm = F.cross_entropy(model(fg), a)
            l_clean = F.cross_entropy(model(x), a)
        assert l_pgd >= l_fgsm - 1e-6 and l_fgsm > l_clean
        if e >= 0.1:
            assert l_pgd > l_fgsm


def test_pgd_matches_reference_loop() -> None:
    model = tiny_classifier(2)
    x, a = torch.rand(4, 3, 12, 12), torch.randint(0, 2, (4,))
    eps, steps, alpha = 0.03, 5, 0.01
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    out = PGD(model, steps=steps, step_size=alpha).run(x, a, eps, noise=noise)
    ref = (x + noise * eps).clamp(0, 1)
    for _ in range(steps):
        r = ref.clone().requires_grad_(True)
        F.cross_entropy(model(r), a, reduction="sum").backward()
        ref = ref + alpha * r.grad.sign()
        ref = torch.clamp(torch.clamp(ref, x - eps, x + eps), 0, 1)
    assert torch.allclose(out, ref, atol=1e-7)
    assert torch.equal(PGD(model).run(x, a, 0.0), x)
