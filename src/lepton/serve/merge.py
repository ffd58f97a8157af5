"""Merge requests into one batch and split the outputs back, padding variable lengths where allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lepton.ir.signature import Signature


@dataclass(frozen=True)
class PadRule:
    """Inputs whose axis 1 may be padded with zeros (a transformer with an ``attention_mask``).

    ``outputs`` names the outputs whose axis 1 follows the padded length; they are cut back per request.
    """

    inputs: frozenset[str]
    outputs: frozenset[str]


def pad_rule(signature: Signature) -> PadRule | None:
    """Padding is safe only when the model masks it: all token inputs share one symbolic axis 1 and
    there is an ``attention_mask`` (zeros there tell the model to ignore the padded positions)."""
    names = {t.name for t in signature.inputs}
    if "attention_mask" not in names:
        return None
    seq_dims = {t.shape[1] for t in signature.inputs if len(t.shape) >= 2}
    if len(seq_dims) != 1 or any(isinstance(d, int) for d in seq_dims):
        return None
    if any(len(t.shape) != 2 for t in signature.inputs):
        return None
    (seq,) = seq_dims
    outs = frozenset(t.name for t in signature.outputs if len(t.shape) >= 2 and t.shape[1] == seq)
    return PadRule(frozenset(names), outs)


def group_key(feeds: Mapping[str, np.ndarray], rule: PadRule | None) -> tuple[object, ...]:
    """Requests with the same key can share a batch: the same non-batch shapes (or any, when padded)."""
    if rule is not None:
        return ("pad",)
    return tuple((k, v.shape[1:], v.dtype.str) for k, v in sorted(feeds.items()))


def merge(items: Sequence[Mapping[str, np.ndarray]], rule: PadRule | None) -> tuple[dict[str, np.ndarray], list[int]]:
    """Concatenate along axis 0; returns the merged feeds and each item's own length (for padded outputs)."""
    if len(items) == 1:
        only = items[0]
        length = next(iter(only.values())).shape[1] if rule is not None else 0
        return dict(only), [length]
    lengths: list[int] = []
    if rule is not None:
        lengths = [next(iter(f.values())).shape[1] for f in items]
        longest = max(lengths)
        out = {}
        for name in items[0]:
            parts = items[0][name], *(f[name] for f in items[1:])
            rows = sum(p.shape[0] for p in parts)
            buf = np.zeros((rows, longest), dtype=parts[0].dtype)
            r = 0
            for p in parts:
                buf[r : r + p.shape[0], : p.shape[1]] = p
                r += p.shape[0]
            out[name] = buf
        return out, lengths
    return {name: np.concatenate([f[name] for f in items]) for name in items[0]}, lengths


def split(
    outputs: Mapping[str, np.ndarray], rows: Sequence[int], lengths: Sequence[int], rule: PadRule | None
) -> list[dict[str, np.ndarray]]:
    """Cut the batch outputs back into one dict per request (and padded axes back to each length)."""
    if len(rows) == 1:
        return [dict(outputs)]
    result: list[dict[str, np.ndarray]] = [{} for _ in rows]
    for name, arr in outputs.items():
        start = 0
        cut = rule is not None and name in rule.outputs
        for i, n in enumerate(rows):
            part = arr[start : start + n]
            if cut:
                part = part[:, : lengths[i]]
            result[i][name] = part
            start += n
    return result
