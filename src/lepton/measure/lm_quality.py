"""Quality of a causal-LM variant against the reference (the dequantized PyTorch model).

Three figures, all from the variant's own runtime: perplexity on held-out text (the bundled prose, or ``--data``),
top-1 agreement (how often its most likely next token is the reference's, at every position of that text) and
greedy match (the share of the reference's greedy continuation of each prompt it reproduces before the first
different token). The drop the navigator bounds (``--max-drop``) is the relative perplexity increase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lepton.engines.generation import GenerationSession
from lepton.errors import UserError
from lepton.quality import Quality

HELDOUT = Path(__file__).resolve().parent.parent / "ir" / "data" / "lm_heldout.txt"
WINDOW = 128  # tokens scored per forward pass
WINDOWS = 2  # 256 tokens of held-out text
PROMPT_TOKENS = 32
PROMPTS = 3
CONTINUATION = 16  # greedy tokens compared per prompt
# Positions per float64 log-softmax: a 262k vocabulary (Gemma-3) makes one position's row 2 MB in float64, so a
# whole 128-token window at once would take ~800 MB (three float64 copies); 16 rows keep it near 100 MB.
ROWS = 16


@dataclass(frozen=True)
class LmData:
    """Token ids of held-out text (scored in windows) and of prompts (continued greedily), and where they came from."""

    windows: tuple[tuple[int, ...], ...]
    prompts: tuple[tuple[int, ...], ...]
    description: str


def load_lm_data(tokenizer: object, data: Path | None = None, bos: int | None = None) -> LmData:
    """Windows and prompts from ``data`` (a text file, or JSONL with a ``prompt`` or ``text`` per line) or from the
    bundled held-out prose. Prompts from JSONL are the prompts as given; from text, its first 32-token slices.
    ``bos``: the token the model's tokenizer puts before every text (``ir.causal_lm.prepended_bos``; Gemma's
    ``<bos>``) starts every window and prompt, as it starts everything the model saw in training: without it the
    model is scored on text it never sees (Gemma-3's perplexity reads ~10x higher) and the bound means little."""
    prompts: list[str] = []
    if data is None:
        text, what = HELDOUT.read_text(encoding="utf-8"), "bundled held-out prose"
    else:
        text, prompts = _read(data)
        what = str(data)
    ids = _encode(tokenizer, text)
    need = WINDOW + 1
    lead = () if bos is None else (bos,)
    step = WINDOW - len(lead)
    windows = tuple(lead + tuple(ids[i : i + step]) for i in range(0, len(ids) - need + 2, step))[:WINDOWS]
    if not windows:
        raise UserError(
            f"--data: {what} has {len(ids)} tokens of text; perplexity needs at least {need}. Give more text"
        )
    if prompts:
        prompt_ids = tuple(lead + tuple(_encode(tokenizer, p)) for p in prompts[:PROMPTS])
    else:
        prompt_ids = tuple(lead + tuple(ids[i * 97 : i * 97 + PROMPT_TOKENS - len(lead)]) for i in range(PROMPTS))
    return LmData(windows, tuple(p for p in prompt_ids if len(p) > len(lead)), what)


def _encode(tokenizer: object, text: str) -> list[int]:
    encoded = tokenizer(text, add_special_tokens=False)  # type: ignore[operator]
    return [int(t) for t in encoded["input_ids"]]


def _read(data: Path) -> tuple[str, list[str]]:
    if not data.is_file():
        raise UserError(f"--data: {data} is not a file; give a text file or a JSONL file of prompts")
    raw = data.read_text(encoding="utf-8")
    if data.suffix.lower() not in (".jsonl", ".json"):
        return raw, []
    prompts: list[str] = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(f"--data: line {n} of {data} is not JSON; give one object per line") from None
        value = row.get("prompt", row.get("text")) if isinstance(row, dict) else None
        if not isinstance(value, str):
            raise UserError(f'--data: line {n} of {data} has no "prompt" or "text" string; e.g. {{"prompt": "..."}}')
        prompts.append(value)
    if not prompts:
        raise UserError(f"--data: {data} holds no prompts")
    return "\n\n".join(prompts), prompts


def log_probs(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    out: np.ndarray = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    return out


def token_nll(logits: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """The negative log-likelihood of each of ``ids[1:]`` under the logits of the position before it, ``ROWS``
    positions at a time (the float64 copy of the logits never holds more than ``ROWS`` rows)."""
    targets = np.asarray(ids[1:], dtype=np.int64)
    out = np.empty(len(targets), dtype=np.float64)
    for start in range(0, len(targets), ROWS):
        stop = min(start + ROWS, len(targets))
        lp = log_probs(logits[start:stop])
        out[start:stop] = -lp[np.arange(stop - start), targets[start:stop]]
    return out


def perplexity(logits: list[np.ndarray], windows: tuple[tuple[int, ...], ...]) -> float:
    """exp of the mean negative log-likelihood of each window's tokens after its first."""
    nll = [token_nll(lg, ids) for lg, ids in zip(logits, windows, strict=True)]
    return float(np.exp(np.mean(np.concatenate(nll))))


@dataclass(frozen=True)
class LmReference:
    """The reference's figures on the data: its perplexity, top-1 tokens and greedy continuations."""

    perplexity: float
    top1: tuple[np.ndarray, ...]
    continuations: tuple[tuple[int, ...], ...]
    description: str


def lm_reference(session: GenerationSession, data: LmData, description: str) -> LmReference:
    logits = [session.logits(w) for w in data.windows]
    conts = tuple(session.generate(p, CONTINUATION).tokens for p in data.prompts)
    return LmReference(perplexity(logits, data.windows), tuple(lg.argmax(-1) for lg in logits), conts, description)


def reference_quality(reference: LmReference) -> Quality:
    """The reference's own quality record (it agrees with itself everywhere)."""
    return Quality(
        kind="fidelity",
        output="logits",
        against=reference.description,
        perplexity=round(reference.perplexity, 4),
        top1_agreement=1.0,
        greedy_match=1.0,
    )


def matched(reference: tuple[int, ...], got: tuple[int, ...]) -> float:
    """The share of ``reference`` that ``got`` reproduces before the first different token."""
    n = 0
    for a, b in zip(reference, got, strict=False):
        if a != b:
            break
        n += 1
    return n / len(reference) if reference else 1.0


def lm_quality(session: GenerationSession, data: LmData, reference: LmReference) -> Quality:
    """The variant's perplexity, top-1 agreement and greedy match against ``reference``."""
    logits = [session.logits(w) for w in data.windows]
    agree = np.concatenate([lg.argmax(-1) == ref for lg, ref in zip(logits, reference.top1, strict=True)])
    greedy = [
        matched(ref, session.generate(p, len(ref)).tokens)
        for p, ref in zip(data.prompts, reference.continuations, strict=True)
    ]
    return Quality(
        kind="fidelity",
        output="logits",
        against=reference.description,
        perplexity=round(perplexity(logits, data.windows), 4),
        top1_agreement=round(float(np.mean(agree)), 4),
        greedy_match=round(float(np.mean(greedy)), 4),
    )
