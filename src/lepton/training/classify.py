"""``classify``: an MLP for tables (CSV, Parquet, 2-D ``.npz``), a small CNN for images (folders, 3/4-D ``.npz``,
the bundled digits)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from lepton.training.baselines import Baseline, baselines_for
from lepton.training.dataset import Prepared, Split
from lepton.training.evaluate import classification_report
from lepton.training.images import IMAGE, augment, digits, prepare_images, read_image_folder
from lepton.training.loop import Batch, Hyper, Objective
from lepton.training.modules import ImageNet, Standardize, TabularNet, rounded
from lepton.training.recipe import RECIPES, Recipe
from lepton.training.tables import CATEGORICAL, FEATURES, numeric_table, prepare_table, read_npz, read_table

if TYPE_CHECKING:
    import optuna

CODES = "categorical_codes"


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == y))


def cross_entropy(out: torch.Tensor, y: torch.Tensor, _: Batch) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y)


@RECIPES.register("classify")
class Classify(Recipe):
    """Classification of tables, images (a folder per class, or an .npz) and bundled digits: an MLP or a CNN."""

    examples: ClassVar[dict[str, str]] = {"digits": "scikit-learn's 8x8 handwritten digits, a small CNN"}

    def prepare(self) -> Prepared:
        o = self.opts
        if o.example is not None:
            self.example_name()
            return digits(o)
        assert o.data is not None
        where = str(o.data)
        if o.data.is_dir():
            x, names, classes, report = read_image_folder(o.data, o.image_size)
            labels = np.searchsorted(np.asarray(classes), np.asarray(names)).astype(np.int64)
            return prepare_images(x, labels, classes, o, report, where)
        if o.data.suffix.lower() == ".npz":
            from lepton.training.tables import encode_labels

            x, y, label = read_npz(o.data, o.target)
            codes, classes = encode_labels(y, where)
            report = {"source": where, "rows_read": len(x), "target": label}
            if x.ndim >= 3:
                return prepare_images(x, codes, classes, o, report, where)
            return numeric_table(x, y, o, where)
        p = prepare_table(read_table(o.data), o, where)
        self._fit_vocab(p)
        return p

    @staticmethod
    def _fit_vocab(p: Prepared) -> None:
        """Category values seen in training (code i+1); anything else, and missing, is code 0."""
        if CATEGORICAL in p.train.inputs:
            cat = p.train.inputs[CATEGORICAL]
            p.info["vocab"] = [sorted({v for v in cat[:, j] if v != ""}) for j in range(cat.shape[1])]

    # -- inputs -------------------------------------------------------------------------------------
    def torch_split(self, p: Prepared, split: Split) -> tuple[Batch, torch.Tensor]:
        inputs: Batch = {}
        for k, v in split.inputs.items():
            if k == CATEGORICAL:
                inputs[CODES] = torch.from_numpy(encode_categories(v, p.info["vocab"]))
            else:
                inputs[k] = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
        return inputs, torch.from_numpy(split.y)

    # -- training -----------------------------------------------------------------------------------
    def defaults(self, p: Prepared) -> Hyper:
        if p.kind == "image":
            return Hyper(
                epochs=40, batch_size=64, lr=3e-3, weight_decay=1e-4, dropout=0.3, patience=10, width=32, depth=2
            )
        return Hyper(epochs=60, batch_size=64, lr=3e-3, weight_decay=1e-4, dropout=0.1, patience=10, width=128, depth=2)

    def build(self, p: Prepared, hp: Hyper, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        n = len(p.classes)
        if p.kind == "image":
            x = p.train.inputs[IMAGE]
            mean = x.mean(axis=(0, 2, 3))
            std = x.std(axis=(0, 2, 3))
            return ImageNet(x.shape[1:], mean, std, n, hp.width, hp.depth, hp.dropout)
        numeric = None
        if FEATURES in p.train.inputs:
            x = p.train.inputs[FEATURES].astype(np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a column missing in every training row
                fill = np.nanmedian(x, axis=0)
            fill = np.where(np.isnan(fill), 0.0, fill)
            filled = np.where(np.isnan(x), fill, x)
            numeric = Standardize(filled.mean(axis=0), filled.std(axis=0), fill)
        cards = [len(v) + 1 for v in p.info.get("vocab", [])]
        return TabularNet(numeric, cards, n, hp.width, hp.depth, hp.dropout)

    def architecture(self, p: Prepared, hp: Hyper) -> str:
        if p.kind == "image":
            channels = "-".join(str(hp.width * 2**i) for i in range(hp.depth))
            return f"CNN, {hp.depth} conv blocks of {channels} channels"
        return f"MLP, {hp.depth} hidden layers of {hp.width}"

    def objective(self, p: Prepared, hp: Hyper) -> Objective:
        aug = None
        kinds = self.opts.augmentations(
            ("shift", "noise") if self.opts.example == "digits" else ("flip", "shift", "noise")
        )
        if p.kind == "image" and kinds:
            noise = torch.from_numpy(p.train.inputs[IMAGE].std(axis=(0, 2, 3)).reshape(1, -1, 1, 1))

            def aug(batch: Batch, gen: torch.Generator) -> Batch:
                return {IMAGE: augment(batch[IMAGE], kinds, noise, gen)}

        return Objective(cross_entropy, "accuracy", True, accuracy, aug)

    def space(self, trial: optuna.Trial, p: Prepared, base: Hyper) -> Hyper:
        widths = [16, 32, 48, 64] if p.kind == "image" else [32, 64, 128, 256]
        return Hyper(
            epochs=trial.suggest_int("epochs", max(2, base.epochs // 4), base.epochs),
            batch_size=base.batch_size,
            lr=trial.suggest_float("lr", 3e-4, 1e-2, log=True),
            weight_decay=base.weight_decay,
            dropout=trial.suggest_float("dropout", 0.0, 0.5),
            patience=base.patience,
            width=trial.suggest_categorical("width", widths),
            depth=trial.suggest_int("depth", 1, 3),
        )

    # -- judging ------------------------------------------------------------------------------------
    def evaluate(self, p: Prepared, outputs: np.ndarray) -> dict[str, Any]:
        return classification_report(p.test.y, outputs, p.classes)

    def baselines(self, p: Prepared) -> list[Baseline]:
        return baselines_for(p, self.opts.seed)

    def preprocessing(self, p: Prepared, model: nn.Module) -> dict[str, Any]:
        if p.kind == "image":
            assert isinstance(model, ImageNet)
            norm = model.norm
            return {
                "input": f"raw pixel values, float32 [batch, {', '.join(map(str, p.info['shape']))}]",
                "normalise": {"mean": rounded(norm.mean), "std": rounded(norm.std)},
            }
        out: dict[str, Any] = {}
        numeric = getattr(model, "numeric", None)
        if numeric is not None:
            out["features"] = {
                "columns": p.info["numeric"],
                "impute_median": rounded(numeric.fill),
                "mean": rounded(numeric.mean),
                "std": rounded(numeric.std),
            }
        if p.info.get("vocab"):
            out["categorical"] = {
                "columns": p.info["categorical"],
                "values": p.info["vocab"],
                "unknown": "values not seen in training (and empty strings) share code 0",
            }
        return out


def encode_categories(values: np.ndarray, vocab: list[list[str]]) -> np.ndarray:
    """String categories -> int64 codes (1-based index in the training vocabulary; unknown and missing 0)."""
    out = np.zeros(values.shape, dtype=np.int64)
    for j, known in enumerate(vocab):
        lookup = {v: i + 1 for i, v in enumerate(known)}
        out[:, j] = [lookup.get(v, 0) for v in values[:, j]]
    return out
