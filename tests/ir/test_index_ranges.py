"""Index ranges from Scatter/Gather targets: an integer input that indexes an axis of another input (edge_index
into the nodes of feat) gets values inside that axis, a node-to-graph map gets sorted values, and the graph
network runs on what was synthesized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx_models import graph_network

from lepton.ir.graph_ranges import index_bounds, input_ranges
from lepton.ir.signature import Signature
from lepton.ir.synthesis import synthesize


@pytest.fixture(scope="module")
def gnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return graph_network(tmp_path_factory.mktemp("gnn") / "gnn.onnx")


def _signature(path: Path, **pins: tuple[int, ...]) -> Signature:
    sig = Signature.from_onnx(onnx.load(path))
    return Signature(sig.inputs, sig.outputs, dict(pins))


def test_edge_index_is_bounded_by_the_node_axis_of_another_input(gnn: Path) -> None:
    ranges = input_ranges(onnx.load(gnn))
    edges = ranges["edge_index"]
    assert edges.kind == "index" and edges.dim == "num_nodes"
    assert "Gather 'gather_src'" in edges.why and "ScatterElements 'scatter_dst'" in edges.why
    assert ranges["batch"].segments  # the pooled axis is max(batch) + 1 long
    assert "edge_index" not in index_bounds(onnx.load(gnn))  # no fixed table for a server to check against


@pytest.mark.parametrize("pins", [{"edge_index": (2, 300)}, {"edge_index": (2, 40), "feat": (17, 8)}])
def test_synthesized_indices_stay_in_range_and_the_graph_network_runs(
    gnn: Path, pins: dict[str, tuple[int, ...]]
) -> None:
    made = synthesize(onnx.load(gnn), _signature(gnn, **pins), text=False, rows=50)
    nodes = made.arrays["feat"].shape[0]
    assert nodes == pins.get("feat", (50,))[0]
    assert made.arrays["edge_index"].shape == pins["edge_index"]
    assert 0 <= made.arrays["edge_index"].min() and made.arrays["edge_index"].max() < nodes
    batch = made.arrays["batch"]
    assert batch.shape == (nodes,) and np.all(np.diff(batch) >= 0) and batch.max() > 0  # sorted, several graphs
    assert set(made.batch_axes.values()) == {None}  # one graph per run: rows of feat are not cut apart
    assert "values 0.." in made.provenance["edge_index"] and "sorted graph ids" in made.provenance["batch"]
    out = ort.InferenceSession(str(gnn)).run(None, made.arrays)[0]
    assert out.shape == (batch.max() + 1, 6) and np.isfinite(out).all()


def _gather_after_a_forgotten_dim(path: Path) -> Path:
    """``idx`` gathers rows of ``Relu(Reshape(feat, [-1, 4]) + feat)``: shape inference names the Reshape's rows
    ``unk`` and, broadcasting it with ``num_nodes``, forgets the name; the sum still has ``num_nodes`` rows."""
    h = onnx.helper
    nodes = [
        h.make_node("Reshape", ["feat", "shape"], ["flat"], name="reshape_any"),
        h.make_node("Add", ["flat", "feat"], ["mixed"], name="mix"),
        h.make_node("Relu", ["mixed"], ["act"], name="act"),
        h.make_node("Gather", ["act", "idx"], ["picked"], name="pick_nodes", axis=0),
    ]
    graph = h.make_graph(
        nodes,
        "forgotten_dim",
        [
            h.make_tensor_value_info("feat", onnx.TensorProto.FLOAT, ["num_nodes", 4]),
            h.make_tensor_value_info("idx", onnx.TensorProto.INT64, ["k"]),
        ],
        [h.make_tensor_value_info("picked", onnx.TensorProto.FLOAT, ["k", 4])],
        [onnx.numpy_helper.from_array(np.array([-1, 4], np.int64), "shape")],
    )
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    return path


def test_an_axis_whose_name_shape_inference_forgets_is_read_back_through_the_ops_that_made_it(tmp_path: Path) -> None:
    path = _gather_after_a_forgotten_dim(tmp_path / "forgotten.onnx")
    idx = input_ranges(onnx.load(path))["idx"]
    assert idx.dim == "num_nodes" and "does not say" not in idx.why, idx  # before: zeros, "give real indices"
    made = synthesize(onnx.load(path), _signature(path, feat=(30, 4), idx=(64,)), text=False, rows=50)
    values = made.arrays["idx"]
    assert values.min() >= 0 and 0 < values.max() < 30  # spread over the 30 rows, not all zeros
    out = ort.InferenceSession(str(path)).run(None, made.arrays)[0]
    assert out.shape == (64, 4)
