"""Hugging Face encoders as sentence embedders: the PyTorch module, its ONNX export, and folder intake.

The embedding is the one sentence-transformers computes for mean-pooled models: pool the last hidden state
over the attention mask, then L2-normalise. The export uses eager attention and the legacy exporter so that
ONNX Runtime's transformer optimizer can fuse Attention (with SDPA it fuses only LayerNorm and Gelu).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lepton.errors import IntakeError, first_line
from lepton.ir import text
from lepton.ir.artifact import MODEL_FILE
from lepton.ir.signature import Signature
from lepton.ir.source import HfSource
from lepton.settings import offline_hub
from lepton.similarity import row_cosines

if TYPE_CHECKING:
    from lepton.ir.intake import Built

TOKENIZER_DIR = text.TOKENIZER
OUTPUT_NAME = "sentence_embedding"
MIN_COSINE = 0.9999
_POOLINGS = ("mean", "cls")
_PARITY_SENTENCES = 32


class SentenceEncoder(nn.Module):
    """An encoder plus pooling (mean over the attention mask, or the CLS token) and L2 normalisation."""

    def __init__(self, model: nn.Module, pooling: str = "mean") -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2, dim=1)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Loading weights" progress bar while Lepton loads a model; the user's setting comes back after."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def pooling_mode(path: Path) -> str:
    """The pooling a sentence-transformers folder declares (``modules.json``); mean otherwise."""
    modules = path / "modules.json"
    if not modules.exists():
        return "mean"
    for m in json.loads(modules.read_text()):
        if m.get("type", "").endswith("Pooling"):
            cfg_path = path / m.get("path", "") / "config.json"
            cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
            if cfg.get("pooling_mode_mean_tokens", True):
                return "mean"
            if cfg.get("pooling_mode_cls_token"):
                return "cls"
            modes = [k for k, v in cfg.items() if k.startswith("pooling_mode") and v]
            raise IntakeError(
                f"{path}: pooling {', '.join(modes) or 'unknown'} is not supported "
                f"(only {', '.join(_POOLINGS)}); "
                "export the model to ONNX yourself and import the .onnx"
            )
    return "mean"


def load_torch_encoder(path: str | Path, attn_implementation: str | None = None) -> SentenceEncoder:
    """The PyTorch sentence encoder for a Hugging Face folder, in eval mode (loaded offline)."""
    from transformers import AutoConfig, AutoModel

    offline_hub()
    path = Path(path)
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as e:
        raise IntakeError(
            f"{path}/config.json is not a Hugging Face model config ({first_line(e, 200)}); "
            "give a folder saved with save_pretrained()"
        ) from None
    if (
        getattr(config, "is_decoder", False)
        or getattr(config, "is_encoder_decoder", False)
        or any(
            a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in (config.architectures or [])
        )
    ):
        raise IntakeError(
            f"{path} holds a {config.model_type} generative model; Lepton imports encoder models "
            "(BERT-like sentence encoders). Export a generator to ONNX yourself and import the .onnx"
        )
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        with _quiet_transformers():
            model = AutoModel.from_pretrained(path, **kwargs)
    except Exception as e:
        raise IntakeError(
            f"transformers cannot load the model in {path} ({first_line(e, 200)}); check the weights file is complete"
        ) from None
    return SentenceEncoder(model, pooling_mode(path)).eval()


def _input_names(encoder: SentenceEncoder, tokenizer: Any) -> list[str]:
    takes = inspect.signature(encoder.model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and "token_type_ids" in takes:
        names.append("token_type_ids")
    return names


def export_hf_encoder(path: str | Path, out_dir: Path) -> Built:
    """Export a Hugging Face encoder folder to ``out_dir/model.onnx`` plus ``out_dir/tokenizer/``.

    Checks parity (cosine >= 0.9999 per sentence) against the PyTorch encoder on real sentences.
    """
    from lepton.ir.intake import Built
    from lepton.ir.onnx_intake import fix_output_dims, read_onnx, run_onnx
    from lepton.ir.torch_intake import export_onnx

    path = Path(path)
    encoder = load_torch_encoder(path, attn_implementation="eager")
    hf_tokenizer = text.load_hf_tokenizer(path)
    names = _input_names(encoder, hf_tokenizer)
    limit = text.declared_max_length(path, hf_tokenizer.model_max_length) or text.FALLBACK_MAX_LENGTH
    # Saved first, so that the export and its parity check tokenize the way workloads and the server will.
    tok_dir = text.save_tokenizer(hf_tokenizer, out_dir / TOKENIZER_DIR, limit)

    # Two sentences of different lengths: the traced graph must keep the padding-mask path.
    sample = text.tokenize(
        tok_dir, ["Export me.", "A second, longer sentence keeps padding in the traced graph."], max_length=limit
    )
    args = tuple(torch.from_numpy(sample[n]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {OUTPUT_NAME: {0: "batch"}}
    model_path = out_dir / MODEL_FILE
    export_onnx(encoder, args, model_path, input_names=names, output_names=[OUTPUT_NAME], dynamic_axes=axes)

    sentences = text.sample_sentences()[:_PARITY_SENTENCES]
    batch = text.tokenize(tok_dir, sentences, max_length=limit)
    with torch.no_grad():
        want = encoder(*(torch.from_numpy(batch[n]) for n in names)).numpy()
    got = run_onnx(model_path, {n: batch[n] for n in names})[OUTPUT_NAME]
    cosine = float(np.min(row_cosines(want, got)))
    if not cosine >= MIN_COSINE:
        raise IntakeError(
            f"the ONNX export of {path.name} does not match PyTorch (min cosine {cosine:.6f} < "
            f"{MIN_COSINE} on {len(sentences)} sentences); export it yourself and import the .onnx"
        )

    fix_output_dims(model_path, {OUTPUT_NAME: want.shape}, axes)
    model, _ = read_onnx(model_path)
    config: Any = encoder.model.config
    source = HfSource(
        path=str(path.resolve()),
        max_length=limit,
        model_type=config.model_type,
        num_heads=int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_heads", 0) or 0),
        hidden_size=int(getattr(config, "hidden_size", 0) or getattr(config, "dim", 0) or 0),
    )
    return Built(Signature.from_onnx(model), "embedding", source, files={text.TOKENIZER: TOKENIZER_DIR})


def hf_intake(path: Path, workdir: Path) -> Built:
    return export_hf_encoder(path, workdir)
