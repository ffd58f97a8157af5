"""Workloads: the rows a model is measured on, from user data or synthesized from its signature."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lepton.errors import UserError, first_line
from lepton.ir.artifact import Artifact
from lepton.ir.signature import numpy_dtype
from lepton.ir.synthesis import row_count, synthesize_artifact, take_rows

DEFAULT_SEQUENCE = 128
DEFAULT_ROWS = 64
_LABEL_NAMES = ("label", "labels", "target", "y")


@dataclass
class Workload:
    """Rows of inputs plus optional labels, and where they came from.

    Rows run along axis 0 of each input unless ``batch_axes`` says otherwise (``state [2, batch, 128]``
    is batched along axis 1; an axis of None marks an input fed whole to every batch, such as a scalar).
    ``provenance`` says, per input, where synthesized values came from. ``max_batch`` is the most rows any stage
    feeds at once (the batch sizes asked for, or the largest the model runs at: ``measure.batch_axis``).
    """

    rows: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str
    batch_axes: dict[str, int | None] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    max_batch: int | None = None

    @property
    def n_rows(self) -> int:
        return row_count(self.rows, self.batch_axes)

    def _take(self, idx: np.ndarray | slice) -> dict[str, np.ndarray]:
        return take_rows(self.rows, self.batch_axes, idx)

    def batch(self, batch_size: int, index: int = 0) -> dict[str, np.ndarray]:
        """Rows ``[index*b, (index+1)*b)``, wrapping around when the data is shorter than a batch."""
        return self._take((np.arange(batch_size) + index * batch_size) % self.n_rows)

    def batches(self, batch_size: int, count: int) -> list[dict[str, np.ndarray]]:
        return [self.batch(batch_size, i) for i in range(count)]

    def head(self, rows: int) -> Workload:
        """The first ``rows`` rows (all of them when there are fewer), labels included."""
        if rows >= self.n_rows:
            return self
        labels = self.labels[:rows] if self.labels is not None else None
        return replace(self, rows=self._take(slice(0, rows)), labels=labels)

    def select(self, rows: np.ndarray) -> Workload:
        """The rows at ``rows`` (indices, repeats allowed), in that order, labels included."""
        idx = np.asarray(rows, dtype=np.int64)
        labels = self.labels[idx] if self.labels is not None else None
        return replace(self, rows=self._take(idx), labels=labels)

    def label_batches(self, batch_size: int, count: int) -> list[np.ndarray] | None:
        """The labels of ``batches(batch_size, count)``, row for row (None without labels)."""
        if self.labels is None:
            return None
        n = len(self.labels)
        return [self.labels[(np.arange(batch_size) + i * batch_size) % n] for i in range(count)]

    def chunks(self, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
        """Every row once, in batches of ``batch_size`` (at most ``max_batch``; the last may be short), for quality
        evaluation."""
        step = min(batch_size, self.max_batch or batch_size)
        for start in range(0, self.n_rows, step):
            yield self._take(slice(start, start + step))


# -- synthesis --------------------------------------------------------------------------------------
def synthesize_workload(
    artifact: Artifact,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    *,
    sequence: int = DEFAULT_SEQUENCE,
    fill_unknown: int | None = None,
) -> Workload:
    """Inputs made from the signature and the graph (``ir.synthesis``): indices inside the tables they
    read, values the graph compares with, masks, positions and lengths that agree with the shapes.

    Sequence dims get ``sequence``; other open dims are an error asking for ``--shape`` unless
    ``fill_unknown`` gives them a size (passes calibrating without user data do that). Large inputs get
    fewer rows; a model with a fixed batch gets exactly that many.
    """
    made = synthesize_artifact(artifact, rows=rows, seed=seed, sequence=sequence, fill_unknown=fill_unknown)
    return Workload(made.arrays, None, "synthesized", made.batch_axes, made.provenance)


# -- which rows a model is measured on ----------------------------------------------------------------
EVAL_DATA = "eval_data"  # an artifact file: the held-out split a trained model was registered with


def make_workload(artifact: Artifact, data: str | Path | None = None, *, rows: int = DEFAULT_ROWS) -> Workload:
    """The user's data when given; else the model's own held-out split (a trained model carries one); real
    sentences for a text model with a tokenizer; else inputs synthesized from the signature."""
    if data is not None:
        return load_workload(artifact, Path(data))
    held_out = artifact.file(EVAL_DATA)
    if held_out is not None and held_out.exists():
        return replace(load_workload(artifact, held_out), source="the model's held-out test split")
    if artifact.task == "embedding" and artifact.file("tokenizer") is not None:
        from lepton.ir.text import sample_sentences

        return text_workload(artifact, sample_sentences(), source="bundled example sentences")
    return synthesize_workload(artifact, rows=rows)


# -- user data --------------------------------------------------------------------------------------
def _split_labels(
    arrays: dict[str, np.ndarray], input_names: list[str]
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    labels = None
    for name in _LABEL_NAMES:
        if name in arrays and name not in input_names:
            labels = arrays.pop(name)
            break
    return arrays, labels


def _read_table(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return {c: df[c].to_numpy() for c in df.columns}


def load_workload(artifact: Artifact, path: Path) -> Workload:
    """Rows from ``.npz``/``.npy``/``.parquet``/``.csv`` or a text file of sentences, checked against the signature."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--data {path}: no such file")
    sig = artifact.signature
    names = sig.input_names
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            arrays, labels = _split_labels(arrays, names)
            if len(names) == 1 and names[0] not in arrays and len(arrays) == 1:
                arrays = {names[0]: next(iter(arrays.values()))}
        elif suffix == ".npy":
            if len(names) != 1:
                raise UserError(f"--data {path}: a .npy holds one array but the model has inputs {names}; use .npz")
            arrays, labels = {names[0]: np.load(path, allow_pickle=False)}, None
        elif suffix in (".parquet", ".csv"):
            cols, labels = _split_labels(_read_table(path), names)
            if all(n in cols for n in names):
                arrays = {n: np.stack(list(cols[n])) if cols[n].dtype == object else cols[n] for n in names}
            elif len(names) == 1:
                arrays = {names[0]: np.column_stack([cols[c] for c in cols])}
            else:
                raise UserError(f"--data {path}: columns {list(cols)} do not name the model's inputs {names}")
        elif suffix in (".txt", ".text"):
            sentences = [s.strip() for s in path.read_text().splitlines() if s.strip()]
            return text_workload(artifact, sentences, source=str(path))
        else:
            raise UserError(f"--data {path}: unsupported format {suffix!r}; use .npz, .npy, .parquet, .csv or .txt")
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as e:  # an empty or truncated file, a table pandas cannot split
        raise UserError(f"--data {path}: cannot read it ({first_line(e, 200)})") from None
    return Workload(_conform(artifact, arrays, str(path)), labels, str(path))


def _conform(artifact: Artifact, arrays: Mapping[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Check names, ranks, fixed dims and dtypes; cast safe numeric kinds (float64 -> float32)."""
    out = {}
    for spec in artifact.signature.inputs:
        if spec.name not in arrays:
            raise UserError(
                f"{source}: no data for input {spec.name!r} (found {', '.join(arrays) or 'nothing'}); "
                f"name the arrays after the inputs: {', '.join(artifact.signature.input_names)}"
            )
        arr = np.asarray(arrays[spec.name])
        expected = "(" + ", ".join(str(d) for d in spec.shape) + ")"
        if arr.ndim and arr.shape[0] == 0:
            raise UserError(f"{source}: input {spec.name!r} has no rows; give at least one row of data")
        if arr.ndim != len(spec.shape) or any(
            isinstance(d, int) and d != n for i, (d, n) in enumerate(zip(spec.shape, arr.shape, strict=False)) if i > 0
        ):
            raise UserError(f"{source}: input {spec.name!r} expects shape {expected}; the data has {arr.shape}")
        want = numpy_dtype(spec.dtype)
        if spec.dtype == "str":  # string inputs (categories): ONNX Runtime takes them as object arrays
            if arr.dtype.kind not in "UO":
                raise UserError(f"{source}: input {spec.name!r} expects strings; the data has {arr.dtype}")
            out[spec.name] = arr.astype(object)
            continue
        if arr.dtype != want:
            same_kind = (
                not np.issubdtype(arr.dtype, np.complexfloating)
                and np.issubdtype(arr.dtype, np.number)
                and np.issubdtype(want, np.number)
                and (
                    np.issubdtype(arr.dtype, np.floating) == np.issubdtype(want, np.floating)
                    or np.issubdtype(want, np.floating)
                )
            )
            if not same_kind:
                raise UserError(f"{source}: input {spec.name!r} expects dtype {spec.dtype}; the data has {arr.dtype}")
            arr = _narrowed(arr, want, f"{source}: input {spec.name!r}", spec.dtype)
        out[spec.name] = arr
    return out


def _narrowed(arr: np.ndarray, want: np.dtype, what: str, dtype_name: str) -> np.ndarray:
    """``arr`` cast to ``want``, refusing values the narrower type cannot hold: a float beyond float32's range
    would become inf and an int64 beyond int32's would wrap around, both silently."""
    if np.issubdtype(want, np.integer):
        info = np.iinfo(want)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise UserError(
                f"{what} expects {dtype_name} (from {info.min} to {info.max}); the data has values from "
                f"{arr.min()} to {arr.max()}: rescale or re-encode them"
            )
        return arr.astype(want)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = arr.astype(want)
    overflowed = np.isfinite(arr) & ~np.isfinite(cast)
    if overflowed.any():
        raise UserError(
            f"{what} expects {dtype_name} (largest {np.finfo(want).max:.4g}); the data has {int(overflowed.sum())} "
            f"value(s) beyond it, such as {arr[overflowed].flat[0]:.6g}: rescale them"
        )
    return cast


def text_workload(
    artifact: Artifact,
    sentences: list[str],
    *,
    max_length: int = DEFAULT_SEQUENCE,
    pad_to_max: bool = True,
    source: str = "sentences",
) -> Workload:
    """Tokenize real sentences with the artifact's tokenizer, cut at ``max_length`` tokens or at the model's
    own limit when that is smaller (never more tokens than the model takes), padded to that length by default.
    """
    from lepton.ir import text

    if not text.has_tokenizer(artifact):
        raise UserError(
            f"{source}: text data needs a model with a tokenizer (a Hugging Face encoder); this one has none. "
            "Give the data as token ids in .npz instead"
        )
    if not sentences:
        raise UserError(f"{source}: no sentences found (one per line)")
    feeds = text.tokenize(artifact, sentences, max_length=max_length, pad_to="max_length" if pad_to_max else None)
    return Workload(_conform(artifact, feeds, source), None, source)
