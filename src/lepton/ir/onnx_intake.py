"""Intake of an ``.onnx`` file: validate it, check ONNX Runtime can run its opset, copy it into an artifact.

Also the ONNX helpers the other intake paths share: the opset limit of the installed ONNX Runtime, naming
the batch dim, and running a model once for a parity check.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from lepton.errors import IntakeError, first_line
from lepton.ir.artifact import MODEL_FILE
from lepton.ir.signature import Signature

EXTERNAL_DATA_FILE = MODEL_FILE + ".data"
_TWO_GB = 2**31


@functools.cache
def ort_max_opset() -> int:
    """The highest default-domain (ai.onnx) opset the installed ONNX Runtime supports.

    ORT has no public constant for it; the newest ``since_version`` among the ai.onnx operator schemas it
    registers equals the limit it enforces when loading ("official support ... till opset N"), checked on
    onnxruntime 1.32 (28). Falls back to the onnx package's own opset if the schema list is unavailable.
    """
    try:
        from onnxruntime.capi import _pybind_state as ort_c

        versions = [s.since_version for s in ort_c.get_all_operator_schema() if s.domain in ("", "ai.onnx")]
        if versions:
            return int(max(versions))
    except (ImportError, AttributeError):
        pass
    return onnx.defs.onnx_opset_version()


def default_opset(model: onnx.ModelProto) -> int | None:
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx"):
            return int(op.version)
    return None


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph holds: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def external_locations(model: onnx.ModelProto) -> list[str]:
    """The external data files a model (loaded without its data) refers to, in order of first use."""
    seen: dict[str, None] = {}
    for t in _tensors(model.graph):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            for kv in t.external_data:
                if kv.key == "location":
                    seen.setdefault(kv.value, None)
    return list(seen)


def read_onnx(path: Path) -> tuple[onnx.ModelProto, list[str]]:
    """Load and validate an ONNX file (without its external data); returns it and its external files."""
    path = Path(path)
    if not path.exists():
        raise IntakeError(f"{path}: no such file; give the path to an existing .onnx file")
    if not path.is_file():
        raise IntakeError(f"{path} is not a file; give the path to an .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise IntakeError(
            f"{path} is not a readable ONNX model (protobuf parse failed: {str(e)[:120]}); "
            "check the file is a complete .onnx export"
        ) from None
    if not model.graph.node and not model.graph.output:
        raise IntakeError(
            f"{path} does not hold an ONNX model (no graph found in {path.stat().st_size} bytes); "
            "check the file is a complete .onnx export"
        )
    opset = default_opset(model)
    limit = ort_max_opset()
    if opset is not None and opset > limit:
        raise IntakeError(
            f"{path} uses ONNX opset {opset}; the installed onnxruntime supports opsets up to {limit}. "
            f"Re-export with opset <= {limit} (e.g. torch.onnx.export(..., opset_version=17)) "
            "or upgrade onnxruntime"
        )
    locations = external_locations(model)
    missing = [loc for loc in locations if not (path.parent / loc).is_file()]
    if missing:
        raise IntakeError(
            f"{path} keeps its weights in external data file(s) that are missing: {', '.join(missing)} "
            f"(looked in {path.parent}); put them next to the model, as exported"
        )
    try:
        if locations or path.stat().st_size >= _TWO_GB:
            onnx.checker.check_model(str(path))  # the path form reads external data and models > 2 GB
        else:
            onnx.checker.check_model(model)
    except Exception as e:  # ValidationError, or an error reading external data
        first = first_line(e, 10_000)
        raise IntakeError(f"{path} fails the ONNX checker: {first[:200]}; fix or re-export the model") from None
    return model, locations


def copy_onnx(path: Path, dest_dir: Path, has_external: bool) -> Path:
    """Copy a model into ``dest_dir/model.onnx``; external data is rewritten to one file beside it."""
    dest = dest_dir / MODEL_FILE
    if not has_external:
        shutil.copyfile(path, dest)
        return dest
    model = onnx.load(str(path), load_external_data=True)
    onnx.save_model(
        model,
        str(dest),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=EXTERNAL_DATA_FILE,
    )
    return dest


def check_loads(model_path: Path) -> None:
    """Open the model in ONNX Runtime (no graph optimization): the engine every later stage relies on."""
    try:
        ort_session(model_path)
    except Exception as e:
        first = first_line(e)
        raise IntakeError(
            f"{model_path.name}: onnxruntime cannot load this model ({first}); "
            "check its operators are standard ONNX or re-export it"
        ) from None


def ort_session(model_path: Path, *, level: str = "disable", save_to: Path | None = None) -> Any:
    """A plain CPU ONNX Runtime session, the one made below the engines (which open every timed and served
    session): intake's load and parity checks (no graph optimization), the sensitivity ranking's fidelity
    (``level="all"``, as the engine runs it) and the graph pass, which has ORT write the graph it optimized
    to ``save_to``. Stages above the engines open models with ``lepton.engines.base.open_session``."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if save_to is not None:
        so.optimized_model_filepath = str(save_to)
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def run_onnx(model_path: Path, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a model once on CPU (for parity checks)."""
    sess = ort_session(model_path)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, dict(feeds)), strict=True))


def name_batch_dim(model: onnx.ModelProto, name: str = "batch") -> None:
    """Name dim 0 of every input and output ``name`` where it is not a fixed size (in place)."""
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
            dims[0].dim_param = name


def fix_output_dims(
    path: Path, observed: Mapping[str, tuple[int, ...]], dynamic: Mapping[str, Mapping[int, str]]
) -> None:
    """Give exported outputs their real sizes where the exporter left a made-up symbol (``Divoutput_dim_1``).

    Only the dims declared dynamic stay symbolic; every other dim was fixed when the module was traced.
    """
    model = onnx.load(str(path), load_external_data=False)
    changed = False
    for v in model.graph.output:
        shape = observed.get(v.name)
        dims = v.type.tensor_type.shape.dim
        if shape is None or len(shape) != len(dims):
            continue
        for i, d in enumerate(dims):
            if i not in dynamic.get(v.name, {}) and not d.HasField("dim_value"):
                d.dim_value = int(shape[i])
                changed = True
    if changed:
        onnx.save_model(model, str(path))  # external data references, if any, are kept as they are


def name_unnamed_nodes(path: Path) -> int:
    """Give every node without a name a unique one (``<op type>_<n>``), in place; how many were named. Passes
    that keep chosen nodes in float, sensitivity and explain's per-node tables address nodes by name, and some
    exporters (and hand-built graphs) leave them empty. Names only: the computation is unchanged."""
    model = onnx.load(str(path), load_external_data=False)
    graphs = [model.graph]
    nodes = []
    while graphs:
        g = graphs.pop()
        for n in g.node:
            nodes.append(n)
            for a in n.attribute:  # If/Loop/Scan bodies: names are unique across the whole model
                if a.HasField("g"):
                    graphs.append(a.g)
                graphs.extend(a.graphs)
    taken = {n.name for n in nodes if n.name}
    named = 0
    for i, n in enumerate(nodes):
        if n.name:
            continue
        name = f"{n.op_type}_{i}"
        while name in taken:
            name += "_"
        n.name = name
        taken.add(name)
        named += 1
    if named:
        onnx.save_model(model, str(path))  # external data references, if any, are kept as they are
    return named


def onnx_intake(path: Path, workdir: Path) -> Signature:
    """Validate ``path`` and copy it (with its external data) into ``workdir``, every node named; returns its
    signature."""
    model, locations = read_onnx(Path(path))
    dest = copy_onnx(Path(path), workdir, bool(locations))
    name_unnamed_nodes(dest)
    check_loads(dest)
    return Signature.from_onnx(model)
