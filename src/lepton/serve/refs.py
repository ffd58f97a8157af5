"""The models ``lepton serve`` was asked for, resolved before the server starts so mistakes exit 2 at once."""

from __future__ import annotations

from lepton.errors import UserError
from lepton.store.resolve import ResolvedModel


def resolve_models(refs: list[str], example: str | None, engine: str | None = None) -> list[tuple[str, ResolvedModel]]:
    """Resolve every MODEL (``REF`` or ``NAME=REF``) and check its engine (``engine``, else the one it was
    measured on) can open it before the server starts, so mistakes exit 2 at once."""
    from dataclasses import replace

    from lepton.engines import ENGINES
    from lepton.store.resolve import resolve_ref
    from lepton.store.store import Store

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
