"""Model files from elsewhere, read as data: TorchScript, ``torch.export`` programs (.pt2) and
ONNX, the format told by the file's content, never its name.

A model file from a stranger must not run code hidden in it. TorchScript is read by torch's
TorchScript loader (its pickles hold only tensors and TorchScript objects). ``torch.export.load``
is not safe by itself: it unpickles weights marked ``use_pickle`` and custom objects with
``weights_only=False``, falls back to ``weights_only=False`` for sample inputs, loads compiled
AOTInductor libraries found in the archive and resolves any ``torch.*`` name a graph node
calls. :func:`check_export_archive` therefore reads the archive first and refuses anything
but the plain layout ``torch.export.save`` writes for a model of tensors: the entries it
knows, weights and constants stored as raw bytes, sample inputs that load with
``weights_only=True``, graph nodes calling ATen/prims operators (or a custom operator this
Python has registered), shape expressions of symbols and arithmetic. ONNX files are protobuf
(no pickle) run by onnxruntime, an optional extra (``facefair[onnx]``).
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ConfigError, DataError

#: the formats :func:`sniff` tells apart
FORMATS = ("torchscript", "export", "onnx", "state_dict")

#: the entries of a .pt2 archive torch.export.save writes for a model of tensors (under its root folder)
_PT2_ENTRIES = re.compile(r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
                          r"|models/model\.json|data/weights/model_weights_config\.json|data/weights/weight_\d+"
                          r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+"
                          r"|data/sample_inputs/model\.pt|extra/[\w.\-]+)")
#: the Python-level operators an exported graph may call besides torch.ops
_OPERATORS = {"_operator.getitem", "_operator.add", "_operator.sub", "_operator.mul", "_operator.floordiv",
              "_operator.truediv", "_operator.mod", "_operator.neg", "_operator.pow", "_operator.eq",
              "_operator.ne", "_operator.lt", "_operator.le", "_operator.gt", "_operator.ge", "_operator.and_",
              "_operator.or_", "math.ceil", "math.floor", "math.sqrt", "math.trunc"}
#: a symbolic shape expression, as torch.export writes it (sympy's ``srepr``:
#: ``Mul(Integer(2), Symbol('s77', positive=True, integer=True))``) or printed (``2*s77``):
#: whole tokens, each one of these, and nothing else (no attribute access, no name outside the list)
_SYMBOL = r"(?:s|u|ps|zf|zuf)\d+"  # torch's symbol names: sizes, unbacked, precomputed, floats
_NUMBER = r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_EXPR_TOKENS = re.compile(rf"[A-Za-z_][A-Za-z_0-9]*|'[^']*'|{_NUMBER}|\*\*|//|\S")
_EXPR_NAMES = {
    # symbols, numbers and arithmetic in sympy's repr
    "Symbol", "Dummy", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Mod", "Max", "Min", "Abs",
    "NegativeOne", "One", "Zero", "Half", "Infinity", "NegativeInfinity", "oo", "zoo", "nan",
    "BooleanTrue", "BooleanFalse", "true", "false", "True", "False",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan", "LessThan",
    "StrictGreaterThan", "GreaterThan", "And", "Or", "Not", "Piecewise", "ExprCondPair",
    "floor", "ceiling", "sqrt",
    # torch's own sympy functions (torch.utils._sympy.functions)
    "FloorDiv", "CleanDiv", "CeilDiv", "IntTrueDiv", "FloatTrueDiv", "PowByNatural", "FloatPow",
    "CeilToInt", "FloorToInt", "TruncToInt", "TruncToFloat", "ToFloat", "Identity", "OpaqueUnaryFn_sqrt",
    "ModularIndexing", "Where", "RoundToInt", "RoundDecimal", "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or",
    # the assumptions srepr writes as keywords
    "positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite", "precision", "evaluate",
}
_EXPR_SYMBOL = re.compile(_SYMBOL)
_EXPR_STRING = re.compile(f"'(?:{_SYMBOL}|-?{_NUMBER})'")  # a quoted symbol name or number (srepr)
_EXPR_PUNCT = set("+-*/%(),<>=!&|~ ") | {"**", "//"}


def _arithmetic(expr: str) -> bool:
    """Whether a shape expression is only symbols, numbers and arithmetic (whole tokens)."""
    for tok in _EXPR_TOKENS.findall(expr):
        if tok[0].isdigit() or tok in _EXPR_PUNCT or tok in _EXPR_NAMES:
            continue
        if _EXPR_SYMBOL.fullmatch(tok) or _EXPR_STRING.fullmatch(tok):
            continue
        return False
    return True


def sniff(path: Path) -> str:
    """Which model format ``path`` holds, from its bytes: ``torchscript``, ``export`` (a
    torch.export .pt2 archive), ``onnx`` or ``state_dict`` (a torch.save pickle, not a model)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise DataError(f"cannot read the model file ({e.strerror})", path) from None
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
                    fmt = next(n for n in names if n.endswith("archive_format"))
                    if z.read(fmt).decode(errors="replace").strip() == "pt2":
                        return "export"
                if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
                    return "torchscript"
                if any(n.endswith("data.pkl") for n in names):
                    return "state_dict"
        except zipfile.BadZipFile:
            pass
        raise DataError("a zip archive that is neither TorchScript (torch.jit.save) nor a torch.export "
                        "program (torch.export.save)", path)
    # an ONNX ModelProto is protobuf whose first field is ir_version (field 1, varint: byte 0x08)
    if head[:1] == b"\x08" and len(head) > 1 and 1 <= head[1] <= 20:
        return "onnx"
    if head[:1] == b"\x80":  # a pickle of the legacy torch.save format
        return "state_dict"
    raise DataError("not a TorchScript, torch.export (.pt2) or ONNX model (its first bytes are "
                    f"{head[:4].hex()})", path)


def _refuse(path: Path, why: str) -> DataError:
    return DataError(f"refused: {why}; a model file is data and facefair does not run code from it", path)


def check_export_archive(path: Path) -> None:
    """Raise a one-line :class:`DataError` unless the .pt2 archive holds only what a model of
    tensors needs (see the module's docstring); reads, never unpickles beyond ``weights_only``."""
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        roots = {n.split("/", 1)[0] for n in names}
        if len(roots) != 1:
            raise DataError(f"a .pt2 archive has one root folder; this one has {len(roots)}", path)
        root = roots.pop() + "/"
        models = [n for n in names if n.startswith(root + "models/")]
        if len(models) != 1:
            raise DataError(f"holds {len(models)} exported programs ({', '.join(models[:3])}); "
                            "audit one model per file", path)
        for n in names:
            if not _PT2_ENTRIES.fullmatch(n[len(root):]):
                what = ("a compiled AOTInductor library" if "aotinductor" in n
                        else "a pickled custom object" if "custom_obj" in n or "opaque_obj" in n
                        else "an entry torch.export.save does not write for a model of tensors")
                raise _refuse(path, f"{n} is {what}")
        for config in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            if root + config not in names:
                if config.startswith("data/weights"):
                    raise DataError(f"no {config}: an older torch.export layout (its weights are "
                                    "pickles); save the program again with torch.export.save", path)
                continue
            entries = json.loads(z.read(root + config)).get("config", {})
            for fqn, meta in entries.items():
                if meta.get("use_pickle"):
                    raise _refuse(path, f"{fqn} in {config} is stored as a pickle")
        sample = root + "data/sample_inputs/model.pt"
        if sample in names:
            try:
                torch.load(io.BytesIO(z.read(sample)), weights_only=True)
            except Exception as e:  # noqa: BLE001 - whatever the unpickler objects to
                raise _refuse(path, f"its sample inputs are a pickle that needs more than tensors "
                                    f"({str(e).splitlines()[0][:120]})") from None
        program = json.loads(z.read(models[0]))
    _check_graph(program, path)


def _check_graph(program: dict[str, Any], path: Path) -> None:
    """Every node calls an ATen/prims operator, an arithmetic operator or a registered custom
    op; every shape expression is arithmetic over symbols."""
    for node in _nodes(program):  # every graph's, nested subgraphs (cond, map) included
        target = str(node.get("target", ""))
        if target in _OPERATORS:
            continue
        parts = target.split(".")
        if parts[:2] != ["torch", "ops"] or len(parts) < 4:
            raise _refuse(path, f"a graph node calls {target!r}, not a torch operator")
        namespace, op = parts[2], parts[3]
        if namespace in ("aten", "prims"):
            continue
        try:
            getattr(getattr(torch.ops, namespace), op)
        except (AttributeError, RuntimeError):
            raise DataError(f"needs the custom operator {namespace}::{op}, which is not registered in this "
                            "Python (import the library that defines it, or export without it)", path) from None
    for expr in _strings(program, "expr_str"):
        if not _arithmetic(expr):
            raise _refuse(path, f"a shape expression {expr[:60]!r} is not arithmetic over symbols")


def _nodes(doc: Any) -> list[dict[str, Any]]:
    """Every graph node anywhere in a serialized program: a dict with a target and inputs."""
    found: list[dict[str, Any]] = []
    stack = [doc]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            if isinstance(d.get("target"), str) and isinstance(d.get("inputs"), list):
                found.append(d)
            stack.extend(d.values())
        elif isinstance(d, list):
            stack.extend(d)
    return found


def _strings(doc: Any, key: str) -> list[str]:
    """Every string value under ``key`` anywhere in a JSON document."""
    found: list[str] = []
    stack = [doc]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            for k, v in d.items():
                if k == key and isinstance(v, str):
                    found.append(v)
                else:
                    stack.append(v)
        elif isinstance(d, list):
            stack.extend(d)
    return found


def check_input_shape(shape: list[Any], input_size: int, name: str, path: Path) -> int | None:
    """A model's one image input must be (N, 3, S, S) with S = ``input_size`` wherever a side is
    fixed; returns N where the batch size is fixed (else None)."""
    if len(shape) != 4:
        raise DataError(f"the model's input {name} has shape {shape}; expected (N, 3, H, W)", path)
    for d, want in zip(shape[1:], (3, input_size, input_size)):
        if isinstance(d, int) and d != want:
            raise DataError(f"the model's input {name} has shape {shape}, which does not fit --input-size "
                            f"{input_size} (expected N x 3 x {input_size} x {input_size})", path)
    return shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None


def in_chunks(run: Any, x: torch.Tensor, batch: int | None) -> torch.Tensor:
    """``run`` over ``x`` in chunks of exactly ``batch`` images (the last padded with copies of
    its last image, their outputs dropped), or in one call where the batch size is free."""
    if batch is None:
        return run(x)
    outs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        n = len(chunk)
        if n < batch:
            chunk = torch.cat([chunk, chunk[-1:].expand(batch - n, *chunk.shape[1:])])
        outs.append(run(chunk)[:n])
    return torch.cat(outs)


class ExportedModel(nn.Module):
    """A checked torch.export program as a module (CPU): gradients flow through it (Integrated
    Gradients); its layers are not modules with hooks (no Grad-CAM)."""

    def __init__(self, path: Path, input_size: int):
        super().__init__()
        check_export_archive(path)
        try:
            program = torch.export.load(str(path))
        except Exception as e:  # noqa: BLE001 - torch's own reasons, in one line
            raise DataError(f"torch.export.load failed: {str(e).splitlines()[0][:200]}", path) from None
        users = list(program.graph_signature.user_inputs)
        if len(users) != 1:
            raise DataError(f"the exported program takes {len(users)} inputs ({', '.join(users)}); facefair "
                            "audits models of one image input", path)
        val = next(n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name == users[0])
        shape = [int(d) if isinstance(d, int) else str(d) for d in getattr(val, "shape", [])]
        self.batch = check_input_shape(shape, input_size, users[0], path)
        self.program = program.module()

    def train(self, mode: bool = True) -> ExportedModel:
        """An exported program has no training mode (torch refuses ``train()`` on it): the
        flag is kept here only, so wrapping modules can call ``eval()``."""
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_chunks(self.program, x, self.batch)


class OnnxModel(nn.Module):
    """An ONNX model run by onnxruntime on CPU, as a module: NCHW float32 in, its first output
    out (no gradients: perturbation attributions explain it)."""

    def __init__(self, path: Path, input_size: int):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("auditing an ONNX model needs onnxruntime: pip install 'facefair[onnx]'") from None
        ort.set_default_logger_severity(3)
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime's reason, in one line
            raise DataError(f"onnxruntime cannot load it: {str(e).splitlines()[0][:200]}", path) from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise DataError(f"the ONNX model takes {len(inputs)} inputs "
                            f"({', '.join(i.name for i in inputs)}); facefair audits models of one image input",
                            path)
        if "float" not in inputs[0].type:
            raise DataError(f"the ONNX input {inputs[0].name} is {inputs[0].type}; expected float pixels", path)
        self.input_name = inputs[0].name
        self.batch = check_input_shape(list(inputs[0].shape), input_size, inputs[0].name, path)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(np.asarray(self.session.run(None, {self.input_name: arr})[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_chunks(self._run, x, self.batch)


def load_model_file(path: str | Path, input_size: int) -> tuple[nn.Module, str]:
    """The model in ``path`` (CPU, eval) and its format (see :func:`sniff`): TorchScript, a
    checked ``torch.export`` program or ONNX (onnxruntime), never code hidden in the file.

    Parameters
    ----------
    path
        the model file; its format is read from its content.
    input_size
        the side the model takes (checked against a fixed input shape).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("model file not found", path)
    fmt = sniff(path)
    if fmt == "state_dict":
        raise DataError("a torch.save file (a state_dict or a pickled model), not a model program; "
                        "a state_dict needs --model-factory MODULE:FUNCTION --weights FILE", path)
    if fmt == "export":
        return ExportedModel(path, input_size), fmt
    if fmt == "onnx":
        return OnnxModel(path, input_size), fmt
    try:
        with warnings.catch_warnings():  # torch marks TorchScript deprecated; it is what users ship
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu").eval(), fmt
    except Exception as e:  # noqa: BLE001 - torch's reason, in one line
        raise DataError(f"not a loadable TorchScript model ({str(e).splitlines()[0][:160]})", path) from None
