"""Where a quantized variant loses its accuracy: what keeping each quantized node in float recovers, measured, and
each compute node's output against the float model's same tensor.

The table is sorted by ``recovered``: the output cosine gained by running that node alone in float with every other
node still quantized (``measure.kept_float``: one session, one switch per node; the quantity a user acts on with
``nodes_to_exclude``). Noise figures alone point at the wrong nodes: on MiniLM's static QDQ the three nodes adding
the most noise recovered 4% of the loss kept in float, because a large local error can barely move the output.

Both models also get the tensors as extra graph outputs and run on the same inputs. For each node the table gives
the SQNR and cosine of its output (which carry every error made upstream too) and the noise it adds itself: its
output's noise-to-signal ratio minus the worst of its inputs' (``added_noise``). When there are more than
``MEASURED`` quantized nodes, the ``MEASURED`` adding the most noise are measured and the rest are ranked by it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from lepton.contract import Contract
from lepton.engines.profile import Feeds
from lepton.errors import one_line
from lepton.ir.onnx_intake import ort_session
from lepton.measure.kept_float import recovered_by_node
from lepton.similarity import row_cosines

COMPUTE = ("MatMul", "Gemm", "Conv", "ConvTranspose", "Attention")
_CAP_DB = 120.0  # an exact tensor (a graph input) reads as this SQNR
MEASURED = 64  # quantized nodes whose float recovery is measured (the rest, when more, ranked by added noise)
MEASURE_ROWS = 8  # rows of the feeds the recovery runs on (each node costs one run of these through the model)


class NodeQuality(Contract):
    node: str  # the float model's node
    op_type: str
    tensor: str  # its output, compared
    sqnr_db: float
    cosine: float
    input_sqnr_db: float  # the worst SQNR among its activation inputs
    added_noise: float  # its output's noise-to-signal ratio minus its inputs' worst: what this node adds
    quantized: bool  # the variant runs it differently (int8 ops, or Q/DQ around it)
    kept_float: bool = False  # the navigator kept it in float (the variant's nodes_to_exclude)
    stage_loss: float | None = None  # the fidelity the run's sensitivity stage measured it to cost, when it ran
    recovered: float | None = None  # output cosine gained by running this node alone in float (None: not measured)


class NodeQualityReport(Contract):
    """The compute nodes of a variant, the one whose float run recovers the most first (then by added noise), and
    the final output's cosine."""

    nodes: tuple[NodeQuality, ...]
    output: str
    output_cosine: float
    rows: int
    measured: int = 0  # nodes whose recovery was measured
    measured_rows: int = 0  # rows it was measured on
    switched_cosine: float | None = None  # output cosine of the switched model with no node kept (the base)
    unmeasured: str | None = None  # why the recovery could not be measured (then the table is by added noise)

    def top(self, k: int, *, quantized_only: bool = True) -> list[str]:
        return [n.node for n in self.nodes if n.quantized or not quantized_only][:k]

    def with_stage_losses(self, losses: dict[str, float]) -> NodeQualityReport:
        """The table with the sensitivity stage's measured losses (keeping each node in float through the
        quantizer, on the final output): measured nodes first, by that loss, then the rest as they were."""
        rows = [n.with_(stage_loss=losses[n.node]) if n.node in losses else n for n in self.nodes]
        rows.sort(key=lambda n: (n.stage_loss is not None, n.stage_loss or 0.0), reverse=True)
        return self.with_(nodes=tuple(rows))


def _rank(n: NodeQuality) -> tuple[bool, float, float]:
    return (n.recovered is not None, n.recovered or 0.0, n.added_noise)


def _nsr(ref: np.ndarray, got: np.ndarray) -> float:
    signal = float(np.sum(np.square(ref, dtype=np.float64)))
    noise = float(np.sum(np.square(ref.astype(np.float64) - got.astype(np.float64))))
    return noise / signal if signal > 0 else (0.0 if noise == 0 else math.inf)


def _db(nsr: float) -> float:
    return _CAP_DB if nsr <= 10 ** (-_CAP_DB / 10) else -10.0 * math.log10(nsr) if math.isfinite(nsr) else -_CAP_DB


def _with_outputs(model: onnx.ModelProto, names: Sequence[str], folder: Path, stem: str) -> Path:
    have = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in have)
    path = folder / f"{stem}.onnx"
    onnx.save(model, str(path))
    return path


def _run(path: Path, names: Sequence[str], feeds: Sequence[Feeds]) -> dict[str, np.ndarray]:
    sess = ort_session(path, level="all")
    inputs = [i.name for i in sess.get_inputs()]
    outs = [sess.run(list(names), {n: f[n] for n in inputs}) for f in feeds]
    return {
        n: np.concatenate([np.asarray(o[i]).reshape(1, -1) if o[i].ndim == 0 else o[i] for o in outs])
        for i, n in enumerate(names)
    }


def _id(node: onnx.NodeProto) -> str:
    """A node's name, or its first output's where it has none."""
    return node.name or node.output[0]


def _first_rows(feeds: Sequence[Feeds], rows: int) -> list[Feeds]:
    """The first ``rows`` rows of ``feeds`` (the last batch cut to fit), so a large batch does not multiply the cost."""
    out: list[Feeds] = []
    left = rows
    for f in feeds:
        if left <= 0:
            break
        n = next(iter(f.values())).shape[0]
        out.append(f if n <= left else {k: v[:left] for k, v in f.items()})
        left -= n
    return out


def node_quality(
    float_model: Path,
    variant_model: Path,
    feeds: Sequence[Feeds],
    kept_float: Sequence[str] = (),
    *,
    measured: int = MEASURED,
    measure_rows: int = MEASURE_ROWS,
) -> NodeQualityReport:
    """Compare every compute node's output in ``variant_model`` with ``float_model``'s on ``feeds`` (see the
    module); nodes are matched by their output tensor's name, which the quantizers keep."""
    ref = onnx.load(str(float_model))
    var = onnx.load(str(variant_model))
    clean = onnx.ModelProto()
    clean.CopyFrom(var)  # the variant as it runs, for the recovery (the extra outputs below would block fusions)
    consts = {i.name for i in ref.graph.initializer} | {
        o for n in ref.graph.node if n.op_type == "Constant" for o in n.output
    }
    graph_inputs = {i.name for i in ref.graph.input} - consts
    var_tensors = {o for n in var.graph.node for o in n.output} | {i.name for i in var.graph.input}
    var_nodes = {n.name: n for n in var.graph.node}
    dq_outputs = {o for n in var.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    nodes = [n for n in ref.graph.node if n.op_type in COMPUTE and n.output and n.output[0] in var_tensors]
    acts = {_id(n): [i for i in n.input if i and i not in consts and i in var_tensors] for n in nodes}
    wanted = list(dict.fromkeys([n.output[0] for n in nodes] + [i for a in acts.values() for i in a]))
    wanted = [w for w in wanted if w not in graph_inputs]
    final = ref.graph.output[0].name
    wanted_all = [*wanted, final] if final not in wanted else wanted
    with tempfile.TemporaryDirectory(prefix="lepton-node-quality-") as tmp:
        folder = Path(tmp)
        a = _run(_with_outputs(ref, wanted_all, folder, "float"), wanted_all, feeds)
        b = _run(_with_outputs(var, wanted_all, folder, "variant"), wanted_all, feeds)
    nsr = {t: _nsr(a[t], b[t]) for t in wanted_all}
    kept = set(kept_float)
    rows = []
    for n in nodes:
        out = n.output[0]
        worst_in = max((nsr.get(i, 0.0) for i in acts[_id(n)]), default=0.0)
        twin = var_nodes.get(n.name) if n.name else next((v for v in var.graph.node if out in v.output), None)
        quantized = twin is None or twin.op_type != n.op_type or any(i in dq_outputs for i in twin.input)
        rows.append(
            NodeQuality(
                node=_id(n),
                op_type=n.op_type,
                tensor=out,
                sqnr_db=_db(nsr[out]),
                cosine=float(row_cosines(a[out], b[out]).mean()),
                input_sqnr_db=_db(worst_in),
                added_noise=max(0.0, nsr[out] - worst_in),
                quantized=quantized and _id(n) not in kept,
                kept_float=_id(n) in kept,
            )
        )
    rows.sort(key=lambda r: r.added_noise, reverse=True)
    cosine = float(row_cosines(a[final], b[final]).mean())
    report = NodeQualityReport(nodes=tuple(rows), output=final, output_cosine=cosine, rows=len(a[final]))
    return _with_recovery(report, ref, clean, feeds, a[final], measured, measure_rows)


def _with_recovery(
    report: NodeQualityReport,
    ref: onnx.ModelProto,
    var: onnx.ModelProto,
    feeds: Sequence[Feeds],
    reference: np.ndarray,
    measured: int,
    measure_rows: int,
) -> NodeQualityReport:
    """``report`` with each of its top ``measured`` quantized nodes' recovery measured, sorted by it."""
    by_id = {_id(n): n for n in ref.graph.node}
    pick = [by_id[r.node] for r in report.nodes if r.quantized and r.node in by_id][:measured]
    if not pick or measured <= 0:
        return report
    some = _first_rows(feeds, measure_rows)
    used = sum(next(iter(f.values())).shape[0] for f in some)
    try:
        gains, base = recovered_by_node(ref, var, pick, some, reference[:used], report.output)
    except Exception as e:  # onnxruntime refusing the switched graph (its errors share no base class but Exception)
        return report.with_(unmeasured=one_line(e, 300))
    if not gains:
        return report.with_(unmeasured="no quantized node could be given a float twin in the variant's graph")
    rows = sorted((r.with_(recovered=gains.get(r.node)) for r in report.nodes), key=_rank, reverse=True)
    return report.with_(nodes=tuple(rows), measured=len(gains), measured_rows=used, switched_cosine=base)
