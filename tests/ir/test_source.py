"""``Artifact.source``: one typed record per way in, the same ``meta.json`` JSON, and folders written by older
versions still load (what they wrote and nothing reads is dropped on the next write)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lepton.ir.artifact import Artifact, ArtifactSummary
from lepton.ir.source import HfSource, OnnxSource, SklearnSource, TorchSource, TrainSource
from lepton.passes.graph import FuseTransformer

# What the versions before typed sources wrote into meta.json (the train one from a real run).
OLD: dict[str, dict[str, Any]] = {
    "onnx": {"kind": "onnx", "path": "/models/resnet.onnx"},
    "hf": {
        "kind": "hf",
        "path": "/gone/all-MiniLM-L6-v2",
        "max_length": 256,
        "pooling": "mean",
        "model_type": "bert",
        "num_heads": 12,
        "hidden_size": 384,
    },
    "torch": {"kind": "torch", "class": "torch.nn.modules.container.Sequential"},
    "sklearn": {"kind": "sklearn", "class": "sklearn.pipeline.Pipeline"},
    "train": {
        "kind": "train",
        "recipe": "classify",
        "params": {"epochs": 4, "batch_size": 64, "lr": 0.003, "width": 128, "depth": 2},
        "architecture": "MLP, 2 hidden layers of 128",
        "metrics": {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0},
        "baselines": {"random forest": 1.0, "majority class": 0.3958333333333333},
        "classes": ["setosa", "versicolor", "virginica"],
        "data": {"source": "/tmp/flowers.csv", "rows_used": 240, "target": "species"},
        "split": {"train": 156, "val": 36, "test": 48},
        "seed": 0,
        "preprocessing": {"features": {"columns": ["height", "width", "noise"]}},
        "tuning": {"trials": 2, "val_default": 1.0, "val_best": 1.0, "val_gain": 0.0},
    },
}
TYPES = {"onnx": OnnxSource, "hf": HfSource, "torch": TorchSource, "sklearn": SklearnSource, "train": TrainSource}
NEVER_READ = {"hf": {"pooling"}, "train": {"baselines", "data", "split", "preprocessing", "tuning"}}


def old_folder(tmp_path: Path, tiny_onnx: Path, source: Any) -> Path:
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(tiny_onnx, folder / "model.onnx")
    signature = {"inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 8]}], "outputs": []}
    meta = {"id": "0123456789abcdef", "name": "old", "task": "generic", "signature": signature, "source": source}
    (folder / "meta.json").write_text(json.dumps(meta))  # no lineage, files or format: the oldest shape
    return folder


@pytest.mark.parametrize("kind", list(OLD))
def test_an_old_meta_json_loads_typed_and_writes_back_the_same_json(kind: str, tmp_path: Path, tiny_onnx: Path) -> None:
    art = Artifact.load(old_folder(tmp_path, tiny_onnx, OLD[kind]))
    assert isinstance(art.source, TYPES[kind]) and art.source.kind == kind
    art.write_meta()
    again = json.loads((art.path / "meta.json").read_text())["source"]
    assert again == {k: v for k, v in OLD[kind].items() if k not in NEVER_READ.get(kind, set())}
    assert Artifact.load(art.path).source == art.source
    summary = art.summary()
    assert ArtifactSummary.from_json(summary.to_json()).source == art.source


@pytest.mark.parametrize("source", [{}, {"kind": "onnxx"}, {"path": "/models/a.onnx"}])
def test_a_source_without_a_known_kind_reads_as_not_recorded(source: Any, tmp_path: Path, tiny_onnx: Path) -> None:
    art = Artifact.load(old_folder(tmp_path, tiny_onnx, source))
    assert art.source is None
    assert ArtifactSummary.from_json({**art.summary().to_json(), "source": source}).source is None


def test_hf_source_reads_the_older_max_seq_length() -> None:
    assert HfSource.from_json({"kind": "hf", "max_seq_length": 128}).max_length == 128


def test_fuse_transformer_takes_heads_and_hidden_size_from_the_source_not_the_folder(
    tmp_path: Path, tiny_onnx: Path
) -> None:
    """An artifact shipped to another machine (a Ray node) has no original model folder: the source says."""
    art = Artifact.load(old_folder(tmp_path, tiny_onnx, OLD["hf"]))
    assert not Path(OLD["hf"]["path"]).exists()
    assert FuseTransformer()._settings(art) == ("bert", 12, 384)
    assert FuseTransformer(num_heads=4, hidden_size=64)._settings(art) == ("bert", 4, 64)  # the user's win
    mpnet = art.with_(source=HfSource(model_type="mpnet", num_heads=12, hidden_size=768))
    assert FuseTransformer()._settings(mpnet) == ("bert", 12, 768)
    assert FuseTransformer()._settings(art.with_(source=OnnxSource())) == ("bert", 0, 0)  # 0: from the graph
