"""Each engine's own profiler on a real CNN: time per node, grouped by op type and by block (engines/profile.py,
measure/breakdown.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lepton.engines import ENGINES, RuntimeConfig
from lepton.engines.profile import OpProfile
from lepton.ir.artifact import Artifact
from lepton.measure.breakdown import OUTSIDE, block_of, by_kernel, by_layer, by_op_type

CONV = {"onnxruntime": "Conv", "openvino": "Convolution", "torch": "conv2d"}


@pytest.fixture(scope="module")
def profiles(digits: tuple[Artifact, dict[str, np.ndarray]]) -> dict[str, OpProfile]:
    art, feeds = digits
    config = RuntimeConfig(intra_op_threads=1)
    return {name: ENGINES.get(name)().profile(art, config, feeds, runs=5, warmup=1) for name in CONV}


@pytest.mark.parametrize("engine", sorted(CONV))
def test_each_engine_profiles_its_nodes_inside_the_timed_calls(engine: str, profiles: dict[str, OpProfile]) -> None:
    p = profiles[engine]
    assert p.engine == engine and p.runs == 5 and p.batch_size == 16
    assert all(o.ms >= 0 for o in p.ops) and p.kernel_ms > 0
    assert p.kernel_ms <= p.wall_ms * 1.05  # the nodes ran inside the calls timed around them
    assert CONV[engine] in {o.op_type for o in p.ops}
    if engine == "onnxruntime":  # its own run event splits what is outside the nodes
        assert p.engine_ms is not None and p.between_nodes_ms is not None and p.around_call_ms is not None
        assert p.kernel_ms <= p.engine_ms <= p.wall_ms * 1.05


@pytest.mark.parametrize("engine", sorted(CONV))
def test_the_op_type_rows_add_up_to_the_wall_time(engine: str, profiles: dict[str, OpProfile]) -> None:
    p = profiles[engine]
    rows = by_op_type(p)
    assert sum(r.ms for r in rows) == pytest.approx(max(p.wall_ms, p.kernel_ms), rel=1e-9)
    assert sum(r.fraction for r in rows) == pytest.approx(1.0, rel=1e-9)
    assert [r.ms for r in rows] == sorted((r.ms for r in rows), reverse=True)
    assert sum(r.nodes for r in rows if r.name != OUTSIDE) == len(p.ops)


def test_openvino_says_which_primitive_ran_each_layer(profiles: dict[str, OpProfile]) -> None:
    convs = [o for o in profiles["openvino"].ops if o.op_type == "Convolution"]
    assert convs and all(o.kernel and o.precision == "f32" for o in convs)  # e.g. brgconv_avx512_f32
    assert {r.name for r in by_kernel(profiles["openvino"])} >= {o.kernel for o in convs}


def test_torch_ops_are_attributed_to_their_module(profiles: dict[str, OpProfile]) -> None:
    conv = [o for o in profiles["torch"].ops if o.op_type == "conv2d"]
    assert {o.layer for o in conv} == {"0", "2", "5"}  # the Sequential's three Conv2d
    assert {"0", "2", "5"} <= {r.name for r in by_layer(profiles["torch"])}


def test_openvino_layers_keep_the_blocks_of_the_exported_graph(profiles: dict[str, OpProfile]) -> None:
    convs = {block_of(o.node) for o in profiles["openvino"].ops if o.op_type == "Convolution"}
    assert convs == {"0", "2", "5"}  # /0/Conv/WithoutBiases ...: the Sequential's indices


@pytest.mark.parametrize(
    ("node", "layer", "block"),
    [
        ("/encoder/layer.0/attention/self/query/MatMul", "", "encoder/layer/0"),
        ("/encoder/layer.3/output/dense/MatMul_quant", "", "encoder/layer/3"),
        ("", "encoder.layer.0.attention.self.query", "encoder/layer/0"),
        ("/1/Relu_output_0_nchwc", "", "1"),
        ("/0/Conv/WithoutBiases", "", "0"),
        ("x_abcd_acdb_/2/Conv/WithoutBiases", "", "2"),
        ("conv1_quant", "", "conv1"),
        ("/embeddings/LayerNorm/Add_1", "", "embeddings"),
    ],
)
def test_a_node_belongs_to_the_block_its_path_names(node: str, layer: str, block: str) -> None:
    assert block_of(node, layer) == block
