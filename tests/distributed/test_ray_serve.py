"""``lepton serve MODEL --ray``: the same application as a Ray Serve deployment on a real local cluster, its
replicas sized from the target QPS and the capacity the navigator measured, placed on the kind of node it was
measured on, answering the Open Inference Protocol exactly as the server on one machine does."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.http as triton
from cluster_helpers import LocalCluster, LocalServer, free_port, local_cluster
from onnx import TensorProto, helper, numpy_helper

from lepton import api
from lepton.distributed.serving import RayServeStatus
from lepton.distributed.shipping import node_cache
from lepton.engines.base import RuntimeConfig
from lepton.errors import UserError
from lepton.ir.signature import Signature
from lepton.measure.timing import Latency
from lepton.navigate.deployment import Deployment
from lepton.serve import ServeConfig, build_app
from lepton.store.store import Store

pytestmark = pytest.mark.ray

KIND = "c7i.large"  # a node label (label values hold no "/"); the catalog knows it as aws/c7i.large


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster({KIND: 2}, labelled=(KIND,)) as c:
        yield c


def recommended_dense(store: Store, tmp: Path) -> None:
    """'dense' (y = x @ w + b) with a finished optimize run that measured 40 items/s per replica on ``KIND``
    at 50 QPS (what ``lepton optimize --ray --qps 50`` records)."""
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with store.workdir() as work:
        onnx.save(model, work / "model.onnx")
        art = store.commit_artifact(work, signature=Signature.from_onnx(model), name="dense")
    store.name_model("dense", art.id)
    run_id = store.start_run("optimize", "dense", art.id)
    latency = Latency(p50=20.0, p95=24.0, p99=26.0, mean=21.0, min=18.0, n=100)
    runtime = RuntimeConfig(intra_op_threads=1, batch_size=8)
    deployment = Deployment(
        artifact_id=art.id, runtime=runtime, throughput_per_s=40.0, latency_ms=latency, hardware_kind=KIND, qps=50
    )
    store.finish_run(run_id, "done", {}, deployment)


def lepton(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lepton", *args], capture_output=True, text=True, timeout=300)


def infer(url: str, x: np.ndarray) -> np.ndarray:
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    assert client.is_server_ready() and client.is_model_ready("dense")
    given = triton.InferInput("x", list(x.shape), "FP32")
    given.set_data_from_numpy(x)
    out = client.infer("dense", [given], outputs=[triton.InferRequestedOutput("y")]).as_numpy("y")
    assert out is not None
    return np.asarray(out)


def test_ray_serve_answers_like_the_local_server_with_replicas_sized_for_the_target(
    cluster: LocalCluster, lepton_home: Path, tmp_path: Path
) -> None:
    store = Store()
    recommended_dense(store, tmp_path)
    port = free_port()
    deployed = lepton("serve", "dense:recommended", "--ray", cluster.address, "--port", str(port))
    text = deployed.stdout + deployed.stderr
    assert deployed.returncode == 0, text
    # 50 QPS at 80% of 40/s per replica: 2 replicas (4 for bursts), on the kind the capacity was measured on
    assert "replicas: 2 to 4 (autoscaling" in text and f"on nodes of kind {KIND}" in text, text
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    on_ray = infer(f"127.0.0.1:{port}", x)
    with LocalServer(build_app(ServeConfig(), ["dense:recommended"], store=store)) as local:
        here = infer(f"127.0.0.1:{local.port}", x)
    np.testing.assert_array_equal(on_ray, here)

    status = lepton("serve", "--ray", cluster.address, "--status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "application lepton: running" in status.stdout and "deployment Lepton: healthy" in status.stdout
    assert "replicas: 2 running" in status.stdout, status.stdout

    assert api.serve(ray=cluster.address, stop=True) is True
    assert not node_cache("serve").exists()  # the nodes forget the served artifacts
    gone = api.serve(ray=cluster.address, status=True)
    assert isinstance(gone, RayServeStatus) and gone.app is None


def test_replicas_no_node_can_hold_are_one_line_and_nothing_stays_deployed(
    cluster: LocalCluster, lepton_home: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from lepton.distributed import serving
    from lepton.resolve import resolve_models

    store = Store()
    recommended_dense(store, tmp_path)
    [(ref, resolved)] = resolve_models(["dense:recommended"], None)
    wide = replace(resolved, runtime=replace(resolved.runtime, intra_op_threads=4))  # 4 CPUs: the node has 2
    with pytest.raises(UserError, match=r"the replicas did not start within 3 s .*so the deployment is removed"):
        serving.deploy(cluster.address, ServeConfig(), [(ref, wide)], timeout_s=3)
    assert serving.status(cluster.address).app in (None, "DELETING")
