"""What a user names as a model, resolved for the faces (``lepton.api``, the CLI): an object, a path, a stored name,
``name:recommended`` or a bundled example (only the faces import the examples)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lepton.engines import ENGINES
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
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
