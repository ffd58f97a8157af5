"""Text in, token ids out: the one place that loads a text model's tokenizer, knows how many tokens the
model takes, and truncates and pads.

Intake, workloads and the server all tokenize through here, so a text is cut at the same length everywhere
(the model's ``max_seq_length``, where ``SentenceTransformer.encode`` cuts it) and only the inputs the model's
signature names are fed. Tokenizers are read from ``tokenizer.json`` with the ``tokenizers`` library: nothing
is unpickled and no code is imported from a model folder. Truncation and padding are always set here, never
taken from the file (the bundled MiniLM's ``tokenizer.json`` pads every text to 128 tokens).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lepton.errors import IntakeError, UserError, first_line
from lepton.ir.artifact import Artifact
from lepton.ir.source import HfSource

if TYPE_CHECKING:
    from tokenizers import Tokenizer

TOKENIZER = "tokenizer"  # the key in ``Artifact.files`` and the folder name inside an artifact
TOKENIZER_FILE = "tokenizer.json"
FALLBACK_MAX_LENGTH = 512  # when nothing about a model says (the BERT family's position table)
FEED_NAMES = ("input_ids", "attention_mask", "token_type_ids")
Padding = Literal["longest", "max_length", "none"]
PADDINGS: tuple[Padding, ...] = ("longest", "max_length", "none")
_UNLIMITED = 100_000  # tokenizers without a limit report ~1e30
_DATA = Path(__file__).parent / "data"


# -- the bundled sentences --------------------------------------------------------------------------
@functools.cache
def _sentences() -> tuple[str, ...]:
    lines = (_DATA / "sentences.txt").read_text(encoding="utf-8").splitlines()
    return tuple(s.strip() for s in lines if s.strip())


def sample_sentences() -> list[str]:
    """About 200 varied English sentences (short and long, many topics), written for Lepton."""
    return list(_sentences())


# -- how many tokens a model takes ------------------------------------------------------------------
def _limit(value: Any) -> int | None:
    """``value`` as a usable token limit, or None (missing, not a number, < 2, or "unlimited")."""
    if isinstance(value, bool):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if 2 <= n < _UNLIMITED else None


def _json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def declared_max_length(folder: Path, tokenizer_limit: int | None = None) -> int | None:
    """The most tokens a model or tokenizer folder says the model takes, or None when it says nothing.

    sentence-transformers' ``max_seq_length`` first (what ``SentenceTransformer.encode`` cuts at: 256 for
    all-MiniLM-L6-v2, whose tokenizer says 512); else the tokenizer's ``model_max_length``
    (``tokenizer_limit``, else ``tokenizer_config.json``), capped by the position table of ``config.json``.
    """
    folder = Path(folder)
    st = _limit(_json(folder / "sentence_bert_config.json").get("max_seq_length"))
    if st is not None:
        return st
    tok = _limit(tokenizer_limit) or _limit(_json(folder / "tokenizer_config.json").get("model_max_length"))
    positions = _limit(_json(folder / "config.json").get("max_position_embeddings"))
    known = [n for n in (tok, positions) if n is not None]
    return min(known) if known else None


def max_length(artifact: Artifact) -> int:
    """The most tokens ``artifact`` takes: the limit intake recorded (``HfSource.max_length``).

    Artifacts recorded without it fall back to what their source folder, then their tokenizer folder,
    declares (see ``declared_max_length``), then 512.
    """
    source = artifact.source
    if isinstance(source, HfSource):
        n = _limit(source.max_length)
        if n is not None:
            return n
    folders = [Path(source.path)] if isinstance(source, HfSource) and source.path else []
    tok = artifact.file(TOKENIZER)
    if tok is not None:
        folders.append(tok)
    for folder in folders:
        n = declared_max_length(folder) if folder.is_dir() else None
        if n is not None:
            return n
    return FALLBACK_MAX_LENGTH


# -- finding and loading the tokenizer --------------------------------------------------------------
def has_tokenizer(artifact: Artifact) -> bool:
    folder = artifact.file(TOKENIZER)
    return folder is not None and (folder / TOKENIZER_FILE).is_file()


def tokenizer_dir(where: Artifact | str | Path) -> Path:
    """The folder holding ``tokenizer.json``: an artifact's tokenizer, a tokenizer folder, or a model folder."""
    if isinstance(where, Artifact):
        folder = where.file(TOKENIZER)
        if folder is None:
            raise UserError(
                f"artifact {where.id} (task {where.task}) has no tokenizer; text input needs a model imported "
                "from a Hugging Face folder (which keeps its tokenizer), else give token ids"
            )
        if not (folder / TOKENIZER_FILE).is_file():
            raise UserError(f"artifact {where.id}: {folder / TOKENIZER_FILE} is missing; import the model again")
        return folder
    path = Path(where)
    if path.name == TOKENIZER_FILE and path.is_file():
        return path.parent
    for candidate in (path, path / TOKENIZER):
        if (candidate / TOKENIZER_FILE).is_file():
            return candidate
    raise UserError(
        f"{path} has no {TOKENIZER_FILE} (nor {TOKENIZER}/{TOKENIZER_FILE}); give a text model's artifact "
        "or its tokenizer folder"
    )


def _model_limit(where: Artifact | str | Path, folder: Path) -> int:
    if isinstance(where, Artifact):
        return max_length(where)
    return declared_max_length(folder) or FALLBACK_MAX_LENGTH


def _pad_token(folder: Path) -> str:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        pad = _json(folder / name).get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        if isinstance(pad, str) and pad:
            return pad
    return "[PAD]"


@functools.lru_cache(maxsize=32)
def _configured(folder: str, limit: int, padding: Padding, stamp: tuple[int, int]) -> Tokenizer:
    """Cached by folder, settings and the file's (mtime, size): a folder written again is read again."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(Path(folder) / TOKENIZER_FILE))
    except Exception as e:  # noqa: BLE001 - any parse failure of a user's file is the same answer
        raise UserError(
            f"{folder}/{TOKENIZER_FILE} cannot be read ({first_line(e, 160)}); save the tokenizer again "
            "with tokenizer.save_pretrained(folder)"
        ) from None
    tok.enable_truncation(max_length=limit)
    if padding == "none":
        tok.no_padding()
    else:
        pad = _pad_token(Path(folder))
        pad_id = tok.token_to_id(pad)
        tok.enable_padding(
            pad_id=pad_id if pad_id is not None else 0,
            pad_token=pad,
            length=limit if padding == "max_length" else None,
        )
    return tok


def load_tokenizer(
    where: Artifact | str | Path, *, max_length: int | None = None, padding: Padding = "longest"
) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` that cuts texts at ``max_length`` tokens and pads them as asked.

    ``max_length`` defaults to, and is capped at, the most tokens the model takes. ``padding``: to the
    longest text of a batch, to ``max_length``, or ``"none"`` (the caller pads). The tokenizer is cached and
    shared: configured once, then only read (safe across threads); do not reconfigure it.
    """
    if padding not in PADDINGS:
        raise UserError(f"padding must be one of {', '.join(PADDINGS)}; got {padding!r}")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)):
        raise UserError(f"max_length must be a whole number of tokens; got {max_length!r}")
    if max_length is not None and max_length < 2:
        raise UserError(f"max_length must be at least 2 (room for the special tokens); got {max_length}")
    folder = tokenizer_dir(where).resolve()
    limit = _model_limit(where, folder)
    st = (folder / TOKENIZER_FILE).stat()
    return _configured(str(folder), min(max_length or limit, limit), padding, (st.st_mtime_ns, st.st_size))


def tokenize(
    where: Artifact | str | Path,
    sentences: Sequence[str],
    max_length: int | None = None,
    pad_to: str | None = None,
) -> dict[str, np.ndarray]:
    """Int64 feeds (``input_ids``, ``attention_mask`` and, where the model takes it, ``token_type_ids``).

    Cuts each text at ``max_length`` tokens (default and at most: the model's limit); pads to the longest
    text, or to ``max_length`` with ``pad_to="max_length"``. Given an artifact, returns exactly the inputs
    of its signature, in its order.
    """
    if pad_to not in (None, "longest", "max_length"):
        raise UserError(f"pad_to must be None, 'longest' or 'max_length'; got {pad_to!r}")
    texts = [sentences] if isinstance(sentences, str) else list(sentences)
    if not texts:
        raise UserError("no texts to tokenize; give at least one")
    bad = next((i for i, s in enumerate(texts) if not isinstance(s, str)), None)
    if bad is not None:
        raise UserError(f"text {bad} is a {type(texts[bad]).__name__}, not a string; give strings")
    padding: Padding = "max_length" if pad_to == "max_length" else "longest"
    tok = load_tokenizer(where, max_length=max_length, padding=padding)
    enc = tok.encode_batch(texts)
    feeds = {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
    }
    if not isinstance(where, Artifact):
        return feeds
    names = where.signature.input_names
    missing = [n for n in names if n not in feeds]
    if missing:
        raise UserError(
            f"artifact {where.id} takes {', '.join(map(repr, missing))}, which a tokenizer does not make "
            f"(it makes {', '.join(FEED_NAMES)}); build those feeds yourself"
        )
    return {n: feeds[n] for n in names}


def pad_id(where: Artifact | str | Path) -> int:
    """The id the model's tokenizer pads with (its pad token's; 0 when its vocabulary has none)."""
    padding = load_tokenizer(where, padding="longest").padding
    return int(padding["pad_id"]) if padding else 0


def pad(ids: Sequence[Sequence[int]], *, pad_with: int = 0, names: Sequence[str] = FEED_NAMES) -> dict[str, np.ndarray]:
    """Token-id lists as int64 feeds padded to the longest, as ``tokenize`` pads: ``input_ids`` (``pad_with``
    after each list), ``attention_mask`` (1 over the tokens) and ``token_type_ids`` (zeros), those in ``names``."""
    if not ids:
        raise UserError("no token-id lists to pad; give at least one")
    longest = max(len(x) for x in ids)
    input_ids = np.full((len(ids), longest), pad_with, dtype=np.int64)
    mask = np.zeros((len(ids), longest), dtype=np.int64)
    for r, x in enumerate(ids):
        input_ids[r, : len(x)] = x
        mask[r, : len(x)] = 1
    feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
    return {n: feeds[n] for n in FEED_NAMES if n in names}


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence embeddings from token states [rows, tokens, dim]: the mean over the unmasked tokens, L2-normalised
    (as the exported encoders pool); an output that is already [rows, dim] is returned as it is."""
    if hidden.ndim == 2:
        return hidden
    m = mask[:, : hidden.shape[1], None].astype(hidden.dtype)
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    out: np.ndarray = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return out


# -- intake: the source folder's tokenizer, saved into an artifact -----------------------------------
def load_hf_tokenizer(path: Path) -> Any:
    """The Hugging Face tokenizer of a model folder (``transformers.AutoTokenizer``, offline)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds; the answer is the same
        raise IntakeError(
            f"{path} has no usable tokenizer ({first_line(e, 160)}); "
            "save the tokenizer next to the model (tokenizer.save_pretrained(folder))"
        ) from None


def save_tokenizer(hf_tokenizer: Any, folder: Path, limit: int) -> Path:
    """Save ``hf_tokenizer`` into ``folder`` so that the folder itself says the model's limit.

    ``tokenizer_config.json`` gets ``model_max_length = limit`` and ``tokenizer.json`` truncates at ``limit``
    without padding, so a tool reading the folder alone cuts texts where Lepton does.
    """
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise IntakeError(
            f"the tokenizer of this model ({type(hf_tokenizer).__name__}) has no fast version, so no "
            f"{TOKENIZER_FILE}; export the model to ONNX yourself and send token ids"
        )
    backend.enable_truncation(max_length=limit)
    backend.no_padding()
    hf_tokenizer.model_max_length = limit
    hf_tokenizer.save_pretrained(folder)
    if not (folder / TOKENIZER_FILE).is_file():
        raise IntakeError(f"saving the tokenizer wrote no {TOKENIZER_FILE} into {folder}; send token ids instead")
    return folder


__all__ = [
    "FALLBACK_MAX_LENGTH",
    "TOKENIZER",
    "declared_max_length",
    "has_tokenizer",
    "load_tokenizer",
    "max_length",
    "mean_pool",
    "pad",
    "pad_id",
    "sample_sentences",
    "tokenize",
    "tokenizer_dir",
]
