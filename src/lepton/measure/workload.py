"""Workloads: the rows a model is measured on, from user data or synthesized from its signature."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.ir.signature import TensorSpec, numpy_dtype

DEFAULT_SEQUENCE = 128
DEFAULT_ROWS = 64
_SEQ_NAMES = ("sequence", "seq", "seq_len", "sequence_length", "length", "tokens")
_LABEL_NAMES = ("label", "labels", "target", "y")


@dataclass
class Workload:
    """Rows of inputs (first axis = rows) plus optional labels, and where they came from."""

    rows: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str

    @property
    def n_rows(self) -> int:
        return int(next(iter(self.rows.values())).shape[0])

    def batch(self, batch_size: int, index: int = 0) -> dict[str, np.ndarray]:
        """Rows ``[index*b, (index+1)*b)``, wrapping around when the data is shorter than a batch."""
        idx = (np.arange(batch_size) + index * batch_size) % self.n_rows
        return {k: np.ascontiguousarray(v[idx]) for k, v in self.rows.items()}

    def batches(self, batch_size: int, count: int) -> list[dict[str, np.ndarray]]:
        return [self.batch(batch_size, i) for i in range(count)]

    def chunks(self, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
        """Every row once, in batches (the last may be short), for quality evaluation."""
        for start in range(0, self.n_rows, batch_size):
            yield {k: v[start : start + batch_size] for k, v in self.rows.items()}


# -- synthesis --------------------------------------------------------------------------------------
def _vocab_size(model: onnx.ModelProto, input_name: str) -> int | None:
    """The row count of the embedding table a token-id input indexes (a Gather on an initializer)."""
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == input_name:
            table = inits.get(node.input[0])
            if table is not None and table.dims:
                return int(table.dims[0])
    return None


def _dim_value(
    spec: TensorSpec,
    i: int,
    batch_size: int,
    pinned: tuple[int, ...] | None,
    text: bool,
    sequence: int,
    fill_unknown: int | None,
) -> int:
    d = spec.shape[i]
    if i == 0 and not isinstance(d, int):
        return batch_size
    if pinned is not None:
        return pinned[i]
    if isinstance(d, int):
        return d
    if text or str(d).lower() in _SEQ_NAMES:
        return sequence
    if fill_unknown is not None:
        return fill_unknown
    example = ",".join(str(x) if isinstance(x, int) else ("1" if j == 0 else "N") for j, x in enumerate(spec.shape))
    raise UserError(
        f"cannot synthesize input {spec.name!r}: dim {i} ({d!r}) has no known size. "
        f"Give it with --shape {spec.name}={example} (N your size), or pass --data"
    )


def synthesize_workload(
    artifact: Artifact,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    *,
    sequence: int = DEFAULT_SEQUENCE,
    fill_unknown: int | None = None,
) -> Workload:
    """Inputs made from the signature: valid token ids for text models, realistic ranges for the rest.

    Sequence dims get ``sequence``; other open dims are an error asking for ``--shape`` unless
    ``fill_unknown`` gives them a size (passes calibrating without user data do that).
    """
    rng = np.random.default_rng(seed)
    model = onnx.load(str(artifact.model_path), load_external_data=False)
    text = artifact.task == "embedding" or any("ids" in s.name for s in artifact.signature.inputs)
    out: dict[str, np.ndarray] = {}
    for spec in artifact.signature.inputs:
        pinned = artifact.signature.pinned.get(spec.name)
        shape = tuple(_dim_value(spec, i, rows, pinned, text, sequence, fill_unknown) for i in range(len(spec.shape)))
        if shape and pinned is not None and isinstance(spec.shape[0], str):
            shape = (rows, *shape[1:])
        dtype = numpy_dtype(spec.dtype)
        lname = spec.name.lower()
        if "mask" in lname:
            arr = np.ones(shape, dtype=dtype)
        elif "type_ids" in lname or "position" in lname:
            arr = np.zeros(shape, dtype=dtype)
        elif "ids" in lname and np.issubdtype(dtype, np.integer):
            vocab = _vocab_size(model, spec.name) or 1000
            arr = rng.integers(1000 if vocab > 2000 else 1, vocab, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.floating):
            # image-like inputs (N, C, H, W) get normalized pixel ranges; other floats standard normal
            arr = rng.standard_normal(shape).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            arr = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype == np.bool_:
            arr = rng.random(shape) > 0.5
        else:
            raise UserError(f"cannot synthesize input {spec.name!r} of dtype {spec.dtype}; pass --data")
        out[spec.name] = arr
    return Workload(out, None, "synthesized")


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
    except (OSError, ValueError) as e:
        raise UserError(f"--data {path}: cannot read it ({e})") from None
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
                np.issubdtype(arr.dtype, np.number)
                and np.issubdtype(want, np.number)
                and (
                    np.issubdtype(arr.dtype, np.floating) == np.issubdtype(want, np.floating)
                    or np.issubdtype(want, np.floating)
                )
            )
            if not same_kind:
                raise UserError(f"{source}: input {spec.name!r} expects dtype {spec.dtype}; the data has {arr.dtype}")
            arr = arr.astype(want)
        out[spec.name] = arr
    return out


def text_workload(
    artifact: Artifact,
    sentences: list[str],
    *,
    max_length: int = DEFAULT_SEQUENCE,
    pad_to_max: bool = True,
    source: str = "sentences",
) -> Workload:
    """Tokenize real sentences with the artifact's tokenizer (padded to ``max_length`` by default)."""
    tok_dir = artifact.file("tokenizer")
    if tok_dir is None:
        raise UserError(
            f"{source}: text data needs a model with a tokenizer (a Hugging Face encoder); this one has none"
        )
    if not sentences:
        raise UserError(f"{source}: no sentences found (one per line)")
    from lepton.examples import tokenize

    feeds = tokenize(tok_dir, sentences, max_length=max_length, pad_to="max_length" if pad_to_max else None)
    feeds = {k: v for k, v in feeds.items() if k in artifact.signature.input_names}
    return Workload(_conform(artifact, feeds, source), None, source)
