"""Export a trained network, preprocessing included, as a stored Artifact with its held-out test split.

The artifact folder holds ``eval.npz`` (one array per model input, named after the input, plus ``label``),
listed as ``artifact.files["eval_data"]``, so ``lepton optimize NAME`` measures task quality with no
``--data``. Numeric models go through ``import_model`` with the module (its exporter checks parity and the
batch axis). Two are exported here and checked against PyTorch before anything is stored: tables with
categorical columns get a string front end (ONNX ``LabelEncoder``) merged before the network, and text models
keep a dynamic sequence axis (clients may send token ids padded to any length up to the trained one).
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from lepton.errors import IntakeError
from lepton.ir.artifact import Artifact
from lepton.ir.source import TrainSource
from lepton.store.intake import import_model
from lepton.store.store import Store
from lepton.training.dataset import Prepared
from lepton.training.recipe import Recipe
from lepton.training.tables import CATEGORICAL

EVAL_FILE = "eval.npz"
PARITY_ROWS = 1024  # rows of the test split the exporter checks PyTorch against ONNX Runtime on
ML_OPSET = 3


def named(net: nn.Module, output: str) -> nn.Module:
    """``net`` with its output named (``logits``, ``forecast``) for the exported graph.

    The wrapper's ``forward`` carries the signature of ``net.forward``: the exporter binds the example
    inputs to parameters by name, so the graph's inputs keep the network's names.
    """
    params = list(inspect.signature(net.forward).parameters.values())

    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> dict[str, torch.Tensor]:
            return {output: self.net(*args, **kwargs)}

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    Named.forward.__signature__ = inspect.Signature([self_param, *params])  # type: ignore[attr-defined]
    Named.__name__ = Named.__qualname__ = f"Trained{type(net).__name__}"
    return Named().eval()


def output_name(task: str) -> str:
    return "forecast" if task == "forecast" else "logits"


def write_eval(path: Path, inputs: Mapping[str, np.ndarray], labels: np.ndarray) -> Path:
    """The test split as the exported model takes it: arrays named after its inputs, plus ``label``."""
    arrays: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
    np.savez(path, **arrays, label=labels)
    return path


def export(
    recipe: Recipe,
    p: Prepared,
    net: nn.Module,
    *,
    name: str,
    source_info: TrainSource,
    store: Store,
) -> Artifact:
    """Commit the trained ``net`` (in eval mode) as artifact ``name`` with its eval split and extra files."""
    net.eval()
    raw = recipe.export_inputs(p, p.test)
    feeds, _ = recipe.torch_split(p, p.test)
    model = named(net, output_name(p.task))
    with tempfile.TemporaryDirectory(prefix="train-", dir=store.tmp_dir) as tmp:
        folder = Path(tmp)
        files: dict[str, Path] = {"eval_data": write_eval(folder / EVAL_FILE, raw, p.test.y)}
        files.update(recipe.extra_files(p, folder))
        source: Any = model
        example: Any = {k: v[:PARITY_ROWS] for k, v in feeds.items()}
        torch_module = None
        if CATEGORICAL in raw:
            net_path = exported(model, p, feeds, folder, sequence=False)
            source, example = with_category_lookup(net_path, p), None
            check_parity(source, model, [(raw, feeds)], folder)
        elif p.kind == "text":
            source, example = onnx.load(str(exported(model, p, feeds, folder, sequence=True))), None
            check_parity(source, model, [(raw, feeds), _trimmed(feeds)], folder)
            torch_module = model  # it takes the graph's inputs as they are: PyTorch eager can be the baseline
        art = import_model(
            source,
            example_input=example,
            name=name,
            task=p.task,
            store=store,
            files=files,
            source_info=source_info,
        )
    return art.with_(torch_module=torch_module) if torch_module is not None else art


def _trimmed(feeds: Mapping[str, torch.Tensor]) -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
    """Token inputs cut to their longest sentence: a shorter sequence than the one exported with."""
    n = int(feeds["attention_mask"].sum(dim=1).max())
    cut = {k: v[:, :n] for k, v in feeds.items()}
    return {k: v.numpy() for k, v in cut.items()}, cut


def exported(model: nn.Module, p: Prepared, feeds: Mapping[str, torch.Tensor], folder: Path, *, sequence: bool) -> Path:
    """``model`` exported to ``folder/net.onnx`` with a dynamic batch axis (and sequence axis, for token inputs)."""
    from lepton.ir.onnx_intake import fix_output_dims
    from lepton.ir.torch_intake import export_onnx

    names = list(feeds)
    path = folder / "net.onnx"
    out = output_name(p.task)
    axes: dict[str, dict[int, str]] = {n: ({0: "batch", 1: "sequence"} if sequence else {0: "batch"}) for n in names}
    axes[out] = {0: "batch"}
    export_onnx(
        model,
        (),
        path,
        kwargs={k: v[:2] for k, v in feeds.items()},
        input_names=names,
        output_names=[out],
        dynamic_axes=axes,
    )
    fix_output_dims(path, {out: (2, len(p.classes))} if p.task == "classification" else {}, axes)
    return path


def with_category_lookup(net_path: Path, p: Prepared) -> onnx.ModelProto:
    """The network (exported with int64 codes) behind a graph mapping each string column to its codes."""
    net = onnx.load(str(net_path))
    vocab: list[list[str]] = p.info["vocab"]
    nodes, codes = [], []
    for j, known in enumerate(vocab):
        idx, col, code = f"cat_idx_{j}", f"cat_col_{j}", f"cat_code_{j}"
        nodes += [
            helper.make_node("Constant", [], [idx], value=helper.make_tensor(idx, TensorProto.INT64, [1], [j])),
            helper.make_node("Gather", [CATEGORICAL, idx], [col], axis=1),
            helper.make_node(
                "LabelEncoder",
                [col],
                [code],
                domain="ai.onnx.ml",
                keys_strings=list(known) or [""],
                values_int64s=list(range(1, len(known) + 1)) or [0],
                default_int64=0,
            ),
        ]
        codes.append(code)
    nodes.append(helper.make_node("Concat", codes, ["categorical_codes"], axis=1))
    front = helper.make_graph(
        nodes,
        "category_lookup",
        [helper.make_tensor_value_info(CATEGORICAL, TensorProto.STRING, ["batch", len(vocab)])],
        [helper.make_tensor_value_info("categorical_codes", TensorProto.INT64, ["batch", len(vocab)])],
    )
    opsets = [o for o in net.opset_import if o.domain not in ("ai.onnx.ml",)] + [
        helper.make_opsetid("ai.onnx.ml", ML_OPSET)
    ]
    front_model = helper.make_model(front, opset_imports=opsets)
    front_model.ir_version = net.ir_version
    net.opset_import.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    merged = onnx.compose.merge_models(front_model, net, io_map=[("categorical_codes", "categorical_codes")])
    merged.graph.name = "lepton_train"
    versions = {o.domain: o.version for o in merged.opset_import}  # merge_models lists each domain twice
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in versions.items())
    onnx.checker.check_model(merged)
    return merged


def check_parity(
    proto: onnx.ModelProto,
    model: nn.Module,
    cases: Sequence[tuple[Mapping[str, np.ndarray], Mapping[str, torch.Tensor]]],
    folder: Path,
) -> None:
    """ONNX Runtime on raw rows (strings in, any sequence length) against PyTorch on the same rows as it takes
    them, for each of ``cases`` (raw feeds, torch feeds), on up to ``PARITY_ROWS`` rows."""
    from lepton.ir.onnx_intake import run_onnx
    from lepton.ir.torch_intake import max_error

    path = folder / "checked.onnx"
    onnx.save(proto, str(path))
    for raw, feeds in cases:
        got = run_onnx(
            path, {k: (v.astype(object) if v.dtype.kind == "U" else v)[:PARITY_ROWS] for k, v in raw.items()}
        )
        with torch.inference_mode():
            want = model(**{k: v[:PARITY_ROWS] for k, v in feeds.items()})
        ok, err = max_error(list(got.values()), [t.numpy() for t in want.values()])
        if not ok:
            shape = list(next(iter(raw.values())).shape)
            raise IntakeError(
                f"the exported graph does not match PyTorch on test rows of shape {shape} (max abs error "
                f"{err:.3g}); report this as a bug"
            )
