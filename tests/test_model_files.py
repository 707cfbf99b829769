"""Model files read as data (facefair.model_files): the format told by content, torch.export
archives checked before torch.export.load sees them (a planted pickle is refused and never
runs, while torch.export.load itself would run it), ONNX's one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from facefair.errors import ConfigError, DataError
from facefair.model_files import load_model_file, sniff


def small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()


class Payload:
    """Unpickling this opens (creates) the marker file: code a model file must never run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "model.pt2"
    torch.export.save(torch.export.export(small(), (torch.rand(2, 3, 16, 16),)), str(path))
    return path


def rewrite(src: Path, dst: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None) -> Path:
    """A copy of the zip ``src`` with entries replaced (bytes), dropped (None) or added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        root = zin.namelist()[0].split("/", 1)[0] + "/"
        for info in zin.infolist():
            rel = info.filename[len(root):]
            if rel in change:
                if change[rel] is not None:
                    zout.writestr(info.filename, change[rel])
            else:
                zout.writestr(info.filename, zin.read(info.filename))
        for rel, data in (add or {}).items():
            zout.writestr(root + rel, data)
    return dst


def pickled(obj: object) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _weights_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("data/weights/model_weights_config.json"))
        return json.loads(z.read(name))


def test_the_format_comes_from_the_content_not_the_name(exported: Path, tmp_path: Path) -> None:
    torch.jit.trace(small(), torch.rand(1, 3, 16, 16)).save(str(tmp_path / "a.onnx"))
    torch.save(small().state_dict(), tmp_path / "b.pt2")
    (tmp_path / "c.pt").write_bytes(b"GIF89a not a model")
    renamed = tmp_path / "d.pt"
    renamed.write_bytes(exported.read_bytes())
    assert [sniff(tmp_path / n) for n in ("a.onnx", "b.pt2", "d.pt")] == ["torchscript", "state_dict", "export"]
    with pytest.raises(DataError, match=r"c\.pt: not a TorchScript, torch.export \(.pt2\) or ONNX model"):
        sniff(tmp_path / "c.pt")
    with pytest.raises(DataError, match=r"b\.pt2: a torch.save file .* --model-factory"):
        load_model_file(tmp_path / "b.pt2", 16)
    model, fmt = load_model_file(renamed, 16)
    x = torch.rand(5, 3, 16, 16)  # 5 images through a program exported with batch 2: padded chunks
    assert fmt == "export" and torch.allclose(model(x), small()(x), atol=1e-6)
    with pytest.raises(DataError, match="does not fit --input-size 32"):
        load_model_file(renamed, 32)


def test_a_program_exported_with_a_dynamic_batch_loads(tmp_path: Path) -> None:
    """A dynamic batch writes sympy's repr (``Symbol('s77', positive=True, integer=True)``) into
    the program: arithmetic, accepted; the same words reaching an attribute are not."""
    path = tmp_path / "dynamic.pt2"
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.export.save(torch.export.export(small(), (torch.rand(8, 3, 16, 16),), dynamic_shapes=({0: batch},)),
                      str(path))
    with zipfile.ZipFile(path) as z:
        program = z.read(next(n for n in z.namelist() if n.endswith("models/model.json"))).decode()
    assert "Symbol(" in program
    model, fmt = load_model_file(path, 16)
    x = torch.rand(5, 3, 16, 16)
    assert fmt == "export" and torch.allclose(model(x), small()(x), atol=1e-6)
    reach = rewrite(path, tmp_path / "reach.pt2", {"models/model.json": program.replace(
        "Symbol(", "Symbol.__init__.__globals__.get(", 1).encode()})
    with pytest.raises(DataError, match="is not arithmetic over symbols"):
        load_model_file(reach, 16)


def test_a_pickle_planted_in_an_exported_program_is_refused_and_never_runs(exported: Path, tmp_path: Path) -> None:
    marker = tmp_path / "the-payload-ran"
    config = _weights_config(exported)
    fqn, meta = next(iter(config["config"].items()))
    meta["use_pickle"] = True
    planted = rewrite(exported, tmp_path / "planted.pt2", {"data/weights/model_weights_config.json":
                                                           json.dumps(config).encode(),
                                                           f"data/weights/{meta['path_name']}":
                                                           pickled(Payload(marker))})
    with pytest.raises(DataError, match=f"refused: {fqn} in data/weights/model_weights_config.json is stored "
                                        "as a pickle; a model file is data"):
        load_model_file(planted, 16)
    assert not marker.exists()
    # the payload is live: torch.export.load, given the same file, runs it
    code = f"import torch\ntry:\n    torch.export.load({str(planted)!r})\nexcept Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    assert marker.exists()


def test_other_hiding_places_are_refused(exported: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cases = {
        "sample inputs": ({"data/sample_inputs/model.pt": pickled(Payload(marker))}, {},
                          "its sample inputs are a pickle that needs more than tensors"),
        "AOTInductor": ({}, {"data/aotinductor/model/model.so": b"\x7fELF"},
                        "data/aotinductor/model/model.so is a compiled AOTInductor library"),
        "custom object": ({}, {"data/constants/custom_obj_0": pickled(Payload(marker))},
                          "custom_obj_0 is a pickled custom object"),
        "older layout": ({"data/weights/model_weights_config.json": None}, {},
                         "an older torch.export layout"),
    }
    for name, (change, add, message) in cases.items():
        path = rewrite(exported, tmp_path / f"{name}.pt2", change, add)
        with pytest.raises(DataError, match=message):
            load_model_file(path, 16)
    assert not marker.exists()


def test_graph_nodes_and_shape_expressions_are_checked(exported: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(exported) as z:
        name = next(n for n in z.namelist() if n.endswith("models/model.json"))
        program = z.read(name).decode()
    assert "torch.ops.aten.conv2d.default" in program
    calls = rewrite(exported, tmp_path / "calls.pt2",
                    {"models/model.json": program.replace("torch.ops.aten.conv2d.default", "torch.hub.load").encode()})
    with pytest.raises(DataError, match="refused: a graph node calls 'torch.hub.load', not a torch operator"):
        load_model_file(calls, 16)
    doc = json.loads(program)  # a node hidden in a nested subgraph is found too
    node = {**json.loads(json.dumps(doc["graph_module"]["graph"]["nodes"][0])), "target": "builtins.exec"}
    doc["graph_module"]["graph"]["nodes"][0]["inputs"].append({"name": "x", "arg": {"as_graph": {"graph": {
        "nodes": [node]}}}})
    nested = rewrite(exported, tmp_path / "nested.pt2", {"models/model.json": json.dumps(doc).encode()})
    with pytest.raises(DataError, match="a graph node calls 'builtins.exec'"):
        load_model_file(nested, 16)
    custom = rewrite(exported, tmp_path / "custom.pt2", {"models/model.json": program.replace(
        "torch.ops.aten.relu.default", "torch.ops.acme_faces.sharpen.default").encode()})
    with pytest.raises(DataError, match="needs the custom operator acme_faces::sharpen, which is not registered"):
        load_model_file(custom, 16)
    doc = json.loads(program)
    doc["graph_module"]["graph"]["sym_int_values"] = {"s0": {"as_expr": {"expr_str": "__import__('os')"}}}
    expr = rewrite(exported, tmp_path / "expr.pt2", {"models/model.json": json.dumps(doc).encode()})
    with pytest.raises(DataError, match="is not arithmetic over symbols"):
        load_model_file(expr, 16)


def test_onnx_inputs_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")

    class TwoInputs(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (a + b).mean((2, 3))[:, :2]

    torch.onnx.export(TwoInputs(), (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)), str(tmp_path / "two.onnx"),
                      dynamo=False, input_names=["a", "b"])
    with pytest.raises(DataError, match=r"two.onnx: the ONNX model takes 2 inputs \(a, b\)"):
        load_model_file(tmp_path / "two.onnx", 16)
    torch.onnx.export(small(), (torch.rand(3, 3, 16, 16),), str(tmp_path / "fixed.onnx"), dynamo=False,
                      input_names=["x"])
    with pytest.raises(DataError, match=r"has shape \[3, 3, 16, 16\], which does not fit --input-size 24"):
        load_model_file(tmp_path / "fixed.onnx", 24)
    model, fmt = load_model_file(tmp_path / "fixed.onnx", 16)  # batch fixed at 3: 7 images in padded chunks
    x = torch.rand(7, 3, 16, 16)
    assert fmt == "onnx" and torch.allclose(model(x), small()(x), atol=1e-5)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r"needs onnxruntime: pip install 'facefair\[onnx\]'"):
        load_model_file(tmp_path / "fixed.onnx", 16)
