"""``facefair audit``: every fairness metric, per-group tables, explanations and the report of a
model that facefair did not train.

The model comes as a file (``--model``: TorchScript, a ``torch.export`` program or ONNX, told
apart by content and read as data, :mod:`facefair.model_files`) or as a Python factory with a state_dict
(``--model-factory module:function --weights FILE``, loaded with ``weights_only=True``). The
user states what it expects: its input side in pixels and its normalisation (``imagenet``,
``none`` for [0, 1] pixels, or ``MEAN/STD`` per channel), and which output is the target
(two logits, one logit, or column K of a multi-label head, read with a sigmoid). Nothing of
this is guessed: the audit folder's ``audit.json`` records it with the model file's SHA-256.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import write_json
from .checkpoint import read_state_dict
from .config import TrainConfig
from .data.from_config import attach_cache, reader_options
from .data.loader import SplitImages
from .errors import ConfigError, DataError
from .evaluation import cross_task, output_names, write_evaluation
from .inference import predict
from .methods.base import Batch, Method, StepContext
from .metrics import FairnessReport
from .model_files import load_model_file
from .models.pretrained import sha256
from .runfolder import RunFolder

log = logging.getLogger(__name__)

NORMALISATIONS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))}


def parse_normalisation(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``imagenet``, ``none`` or ``m1,m2,m3/s1,s2,s3`` -> (mean, std) per channel."""
    if text in NORMALISATIONS:
        return NORMALISATIONS[text]
    try:
        mean, std = (tuple(float(v) for v in part.split(",")) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--normalize takes imagenet, none or MEAN/STD (e.g. 0.5,0.5,0.5/0.5,0.5,0.5), "
                          f"got {text!r}") from None
    if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
        raise ConfigError(f"--normalize MEAN/STD needs three means and three positive stds, got {text!r}")
    return mean, std


class AuditedModel(nn.Module):
    """A foreign model seen as facefair sees its own: [0, 1] NCHW pixels in, two logits out.

    One logit z becomes (0, z), so the softmax of the pair is sigmoid(z); column ``output``
    of a wider head is read the same way (a multi-label attribute model)."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], output: int | None = None):
        super().__init__()
        self.model, self.output = model, output
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)] \
            if not isinstance(model, torch.jit.ScriptModule) else []
        #: the layer Grad-CAM reads (explain.cam.cam_layer): the last convolution, where one is visible
        self.cam_layer = convs[-1] if convs else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model((x - self.mean) / self.std)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ConfigError(f"the model returned a {type(out).__name__}, not a tensor of logits")
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2:
            raise ConfigError(f"the model's output has shape {tuple(out.shape)}; expected (N, 2), (N, 1) or (N, C)")
        if self.output is not None:
            if not 0 <= self.output < out.shape[1]:
                raise ConfigError(f"--output {self.output} is out of range: the model gives {out.shape[1]} outputs")
            out = out[:, self.output:self.output + 1]
        elif out.shape[1] not in (1, 2):
            raise ConfigError(f"the model gives {out.shape[1]} outputs per image; name the target's column with "
                              "--output K (read with a sigmoid)")
        if out.shape[1] == 1:
            out = torch.cat([torch.zeros_like(out), out], dim=1)
        return out


#: what the report says of the explanations each kind of model gets
EXPLAINED = {
    "factory": "Explanations: Integrated Gradients and Grad-CAM (its last convolution).",
    "torchscript": "Explanations: Integrated Gradients; no Grad-CAM (TorchScript hides its layers).",
    "export": "Explanations: Integrated Gradients; no Grad-CAM (an exported program's layers have no hooks).",
    "onnx": "Explanations: patch ablation (Captum's FeatureAblation over onnxruntime's forward: an 8 x 8 "
            "grid of patches greyed out one at a time); an ONNX model gives no gradients, so no Integrated "
            "Gradients or Grad-CAM.",
}


def explanation_methods(kind: str, model: AuditedModel) -> list[str]:
    """The attribution methods a model of this kind supports: gradients give Integrated
    Gradients, visible layers Grad-CAM, a forward pass alone patch ablation (ONNX)."""
    if kind == "onnx":
        return ["ablation"]
    return ["ig"] + (["cam"] if model.cam_layer is not None else [])


class Audited(Method):
    """The prediction rule of an audited model: its two logits (not a training method)."""

    name = "audited"
    summary = "a model trained outside facefair"

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        raise ConfigError("an audited model is not trained by facefair")


def load_model(model_file: str | Path | None = None, factory: str | None = None,
               weights: str | Path | None = None, input_size: int = 112) -> tuple[nn.Module, dict[str, Any]]:
    """The foreign model (eval mode, CPU) and what identifies it (kind, file, SHA-256).

    Parameters
    ----------
    model_file
        a TorchScript file (``torch.jit.save``), a ``torch.export`` program (``.pt2``,
        checked before it is loaded: :mod:`facefair.model_files`) or an ONNX model
        (onnxruntime); the format is read from the content.
    factory
        ``module:function`` returning an ``nn.Module`` (its module importable from the
        current folder or ``PYTHONPATH``).
    weights
        the factory model's state_dict file (loaded with ``weights_only=True``, strictly).
    input_size
        the side the model takes (checked against an exported or ONNX model's fixed shape).
    """
    if (model_file is None) == (factory is None):
        raise ConfigError("name the model with --model FILE (TorchScript, .pt2 or ONNX) or "
                          "--model-factory MODULE:FUNCTION")
    if model_file is not None:
        path = Path(model_file)
        model, fmt = load_model_file(path, input_size)
        return model, {"kind": fmt, "file": str(path), "sha256": sha256(path)}
    assert factory is not None
    mod_name, _, fn_name = factory.partition(":")
    if not mod_name or not fn_name:
        raise ConfigError(f"--model-factory takes MODULE:FUNCTION, got {factory!r}")
    if os.getcwd() not in sys.path:  # a user's module beside them, as `python -m` would find it
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"--model-factory {factory}: {e}") from None
    model = fn()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model-factory {factory} returned a {type(model).__name__}, not a torch nn.Module")
    info: dict[str, Any] = {"kind": "factory", "factory": factory}
    if weights is not None:
        wpath = Path(weights)
        state = read_state_dict(wpath)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError) as e:
            raise DataError(f"weights do not fit the factory's model: {str(e).splitlines()[0]}", wpath) from None
        info.update(file=str(wpath), sha256=sha256(wpath))
    else:
        log.warning("warning: no --weights: auditing the factory's model with the weights it was built with")
    return model.eval(), info


def audit(out: str | Path, dataset: str, root: str | Path | None, target: str, protected: str,
          model_file: str | Path | None = None, factory: str | None = None, weights: str | Path | None = None,
          input_size: int = 112, normalize: str = "none", output: int | None = None, positive: str | None = None,
          split: str = "all", dataset_options: dict[str, Any] | None = None, batch_size: int = 64,
          n_boot: int = 1000, explain: int = 6, ig_steps: int = 32, progress: bool = False,
          title: str | None = None, regions: int = 0, landmarks_template: str | Path | None = None) -> FairnessReport:
    """Audit a foreign model on a dataset: predictions, metrics with intervals, per-group
    tables, explanation pictures, region shares (``regions``), the HTML report and
    ``MODEL_CARD.md``, all in ``out``.

    Parameters
    ----------
    out
        the audit folder (made; a folder holding other files is refused).
    dataset
        a reader facefair has (celeba, fairface, utkface, manifest).
    root
        the dataset's folder in its official layout.
    target
        the attribute the model predicts.
    protected
        the protected attribute the groups come from.
    model_file
        a TorchScript, torch.export (.pt2) or ONNX model.
    factory
        ``module:function`` building the model (with ``weights``).
    weights
        the factory model's state_dict.
    input_size
        the side in pixels the model takes.
    normalize
        ``imagenet``, ``none`` ([0, 1] pixels) or ``MEAN/STD``.
    output
        the column of a multi-output head holding the target's logit (sigmoid).
    positive
        the dataset's class the model's positive output means (default: the second).
    split
        ``all`` (every image), or train, val, test.
    dataset_options
        the reader's options (``manifest=FILE``).
    batch_size
        images per forward pass.
    n_boot
        bootstrap replicates for the intervals.
    explain
        images drawn with IG and Grad-CAM (0: none).
    ig_steps
        Integrated Gradients' interpolation steps.
    progress
        a progress bar.
    title
        the report's title.
    regions
        images (a seeded sample of the split) whose attributions are summed per face region
        and compared between groups (0: none): ``regions/`` and a report section.
    landmarks_template
        a five-landmark template (JSON) for the regions, instead of the dataset's landmarks.
    """
    from .data.registry import load_dataset
    from .explain.run import explain_models, pick_images
    from .report.html import write_report
    from .report.model_card import write_model_card

    folder = RunFolder(out)
    mean, std = parse_normalisation(normalize)
    model, info = load_model(model_file, factory, weights, input_size)
    wrapped = AuditedModel(model, mean, std, output).eval()
    data = load_dataset(dataset, root, **reader_options(dataset, dataset_options, input_size))
    for note in data.notes:
        log.info(f"note: {note}")
    if data.images is None:
        attach_cache(data, input_size, "auto")
    _, y_classes = data.attribute(target)
    task = cross_task(data, target, protected, positive or y_classes[-1])
    idx = task.indices(split)
    with folder.claim():
        # facefair's own prediction path (batches, fp32, the argmax of the two logits)
        cfg = TrainConfig(eval_batch_size=batch_size, progress=progress, bf16=False)
        outputs = predict(Audited(), wrapped, SplitImages(task, idx, input_size), cfg, torch.device("cpu"),
                          desc="audit", pass_groups=False)
        doc = {"audit": True, "split": split, "dataset": dataset, "root": str(root), "target": target,
               "protected": protected, "positive": task.y_classes[1], "model": info, "input_size": input_size,
               "normalize": {"name": normalize, "mean": list(mean), "std": list(std)}, "output": output,
               "n_scored": len(idx), "method": "audited", "arch": info.get("factory", info["kind"]),
               "size": input_size}
        write_json(folder.audit_file, doc)
        report = write_evaluation(folder.path, task, outputs, output_names("test"), {**doc, "run": str(folder.path)},
                                  n_boot, 0.95, 0, f"audit of {info.get('file', factory)}")
        if explain > 0:
            pics = pick_images(task, split, None, explain, 0)
            models = [("audited", Audited(), wrapped, torch.device("cpu"))]
            what = f"{target} ({info['kind']}, {input_size}px)"
            for method in explanation_methods(info["kind"], wrapped):
                explain_models(models, task, pics, input_size, method, folder.path / "explain", what,
                               {"run": str(folder.path)}, explain_class="positive",
                               **({"steps": ig_steps} if method == "ig" else {}))
        if regions > 0:
            from .analysis.regions import region_report
            from .explain.run import make_explainer

            method = explanation_methods(info["kind"], wrapped)[0]  # ig, or ablation for ONNX
            explainer = make_explainer(method, Audited(), wrapped, "positive",
                                       {"steps": ig_steps} if method == "ig" else {})
            region_report(explainer, method, task, task.indices(split, regions, 0), input_size,
                          folder.regions_dir, landmarks_template, n_boot,
                          doc={"run": str(folder.path), "split": split, "target": target, "protected": protected})
        write_report([str(folder.path)], folder.path / "report.html", title or f"Audit: {target} by {protected}",
                     note=f"A model trained outside facefair ({info['kind']} {info.get('file', factory)}), on "
                          f"{len(idx)} {dataset} images (split {split}), {input_size} px, normalisation {normalize}. "
                          + EXPLAINED[info["kind"]])
        write_model_card(folder.path)
    return report
