"""Intake of a ``torch.nn.Module``: export to ONNX with a dynamic batch axis, then prove parity in ORT."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import IntakeError, first_line
from lepton.ir.artifact import MODEL_FILE
from lepton.ir.signature import Signature
from lepton.ir.source import TorchSource

if TYPE_CHECKING:
    import torch

    from lepton.ir.intake import Built

OPSET = 17
RTOL, ATOL = 1e-4, 1e-5  # atol is scaled by the output's magnitude (at least 1)


def export_onnx(
    module: torch.nn.Module,
    args: tuple[Any, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """``torch.onnx.export`` with the legacy TorchScript exporter (its graphs let ONNX Runtime's transformer
    optimizer fuse Attention), falling back to the dynamo exporter where the legacy one is gone."""
    import torch

    legacy = "dynamo" in inspect.signature(torch.onnx.export).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning / deprecation notices are noise to a user here
        try:
            torch.onnx.export(
                module,
                args,
                str(path),
                kwargs=dict(kwargs) if kwargs else None,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()},
                opset_version=OPSET,
                do_constant_folding=True,
                **({"dynamo": False} if legacy else {}),  # type: ignore[arg-type]
            )
        except Exception as e:
            first = first_line(e)
            raise IntakeError(
                f"torch.onnx.export failed for {type(module).__name__}: {first}; check the module runs on "
                "example_input and uses only exportable operations"
            ) from None


def _as_inputs(example_input: Any) -> tuple[list[str], list[torch.Tensor], bool]:
    """(names, tensors, given_as_dict) from a tensor, a tuple/list of tensors or a dict name -> tensor."""
    import torch

    if isinstance(example_input, torch.Tensor):
        return ["input_0"], [example_input], False
    if isinstance(example_input, Mapping):
        items = list(example_input.items())
        as_dict = True
    elif isinstance(example_input, tuple | list):
        items = [(f"input_{i}", t) for i, t in enumerate(example_input)]
        as_dict = False
    else:
        raise IntakeError(
            f"example_input is a {type(example_input).__name__}; give a torch.Tensor, a tuple of tensors "
            "or a dict name -> tensor"
        )
    bad = [str(k) for k, t in items if not isinstance(t, torch.Tensor)]
    if not items or bad:
        raise IntakeError(
            "example_input must hold torch tensors; "
            + ("it is empty" if not items else "not tensors: " + ", ".join(bad))
            + ". Give tensors shaped like one real batch"
        )
    return [str(k) for k, _ in items], [t for _, t in items], as_dict


def _flatten_outputs(out: Any) -> tuple[list[str], list[np.ndarray]]:
    import torch

    if isinstance(out, torch.Tensor):
        return ["output_0"], [out.detach().cpu().numpy()]
    if isinstance(out, Mapping):
        items = list(out.items())
    elif isinstance(out, tuple | list):
        items = [(f"output_{i}", t) for i, t in enumerate(out)]
    else:
        items = [("output_0", out)]
    bad = [str(k) for k, t in items if not isinstance(t, torch.Tensor)]
    if bad:
        raise IntakeError(
            f"the module returns {type(out).__name__} with non-tensor parts ({', '.join(bad)}); "
            "return a tensor, a tuple of tensors or a dict name -> tensor"
        )
    return [str(k) for k, _ in items], [t.detach().cpu().numpy() for _, t in items]


def _reference(
    module: torch.nn.Module,
    tensors: list[torch.Tensor],
    names: list[str],
    as_dict: bool,
    what: str = "example_input",
) -> Any:
    import torch

    with torch.no_grad():
        try:
            return module(**dict(zip(names, tensors, strict=True))) if as_dict else module(*tensors)
        except Exception as e:
            how = " (dict keys are passed to forward() as keyword arguments)" if as_dict else ""
            raise IntakeError(
                f"{type(module).__name__} failed on {what}{how} ({type(e).__name__}: {str(e)[:200]}); "
                "give an example_input the module accepts, with the batch as dim 0 of every tensor"
            ) from None


def max_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> tuple[bool, float]:
    """(all close, max abs error) with a tolerance scaled to each output's magnitude."""
    ok, worst = True, 0.0
    for g, w in zip(got, want, strict=True):
        if g.shape != w.shape:
            return False, float("inf")
        if w.size == 0:
            continue
        if w.dtype.kind in "fc":
            err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64))))
            scale = max(1.0, float(np.max(np.abs(w))))
            ok = ok and bool(np.allclose(g, w, rtol=RTOL, atol=ATOL * scale))
        else:
            err = float(np.max(g != w))
            ok = ok and err == 0
        worst = max(worst, err)
    return ok, worst


def torch_intake(module: torch.nn.Module, example_input: Any, workdir: Path) -> Built:
    """Export ``module`` to ``workdir/model.onnx``; dim 0 of every input and output is the ``batch`` axis."""

    from lepton.ir.intake import Built
    from lepton.ir.onnx_intake import fix_output_dims, read_onnx, run_onnx

    names, tensors, as_dict = _as_inputs(example_input)
    module.eval()
    out_names, want = _flatten_outputs(_reference(module, tensors, names, as_dict))
    axes = {n: {0: "batch"} for n, t in zip(names, tensors, strict=True) if t.dim() > 0}
    axes |= {n: {0: "batch"} for n, w in zip(out_names, want, strict=True) if w.ndim > 0}
    path = workdir / MODEL_FILE
    args: tuple[Any, ...] = () if as_dict else tuple(tensors)
    kwargs = dict(zip(names, tensors, strict=True)) if as_dict else None
    export_onnx(module, args, path, input_names=names, output_names=out_names, dynamic_axes=axes, kwargs=kwargs)
    fix_output_dims(path, {n: w.shape for n, w in zip(out_names, want, strict=True)}, axes)
    model, _ = read_onnx(path)

    signature = Signature.from_onnx(model)
    used = signature.input_names  # the exporter drops inputs the graph does not use
    feeds = {n: t.detach().cpu().numpy() for n, t in zip(names, tensors, strict=True) if n in used}
    ok, err = max_error(list(run_onnx(path, feeds).values()), want)
    if not ok:
        raise IntakeError(
            f"the exported ONNX graph of {type(module).__name__} does not match PyTorch on example_input "
            f"(max abs error {err:.3g}); check for data-dependent control flow, or export it yourself "
            "and import the .onnx"
        )
    _check_batch_axis(module, names, tensors, as_dict, path, used)
    cls = type(module)
    return Built(
        signature,
        source=TorchSource(class_name=f"{cls.__module__}.{cls.__qualname__}"),
        torch_module=module,
    )


def _check_batch_axis(
    module: torch.nn.Module,
    names: list[str],
    tensors: list[torch.Tensor],
    as_dict: bool,
    path: Path,
    used: list[str],
) -> None:
    """Run the graph at another batch size: a size traced into the graph (``x.view(4, -1)``) shows up here."""
    import torch

    from lepton.ir.onnx_intake import run_onnx

    if any(t.dim() == 0 for t in tensors):
        return
    bigger = [torch.cat([t, t[:1]]) for t in tensors]
    what = f"example_input grown to batch size {len(bigger[0])}"
    _, want = _flatten_outputs(_reference(module, bigger, names, as_dict, what))
    feeds = {n: t.detach().cpu().numpy() for n, t in zip(names, bigger, strict=True) if n in used}
    try:
        got = list(run_onnx(path, feeds).values())
    except Exception as e:
        first = first_line(e, 200)
        raise IntakeError(
            f"the exported graph of {type(module).__name__} fails at batch size {len(bigger[0])} ({first}); "
            "the batch size is baked in: use x.flatten(1) or x.view(x.size(0), -1) instead of fixed sizes"
        ) from None
    ok, err = max_error(got, want)
    if not ok:
        raise IntakeError(
            f"the exported graph of {type(module).__name__} is wrong at batch size {len(bigger[0])} "
            f"(max abs error {err:.3g}); the batch size is baked in somewhere: avoid fixed sizes in reshapes"
        )
