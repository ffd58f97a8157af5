"""The Python face of ``lepton train`` (``lepton.api.train`` and ``lepton.train(...)`` are this function)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lepton.store.store import Store
from lepton.train.loop import Progress
from lepton.train.run import TrainResult


def train(
    recipe: str,
    data: str | Path | None = None,
    *,
    json: str | Path | None = None,
    html: str | Path | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> TrainResult:
    """Train a model and store it with its test split; ``options`` are ``lepton train``'s, by the same names
    (``example``, ``target``, ``categorical``, ``epochs``, ``lr``, ``tune``, ``folds``, ``horizon`` ...).

    ``json`` / ``html`` write the result and the HTML report there, like ``--json`` / ``--html``.
    """
    import json as _json

    from lepton.train.options import TrainOptions
    from lepton.train.run import train as run

    result = run(TrainOptions.build(recipe, data, **options), store=store, progress=progress)
    if json is not None:
        path = Path(json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(_json.dumps(result.to_json(), indent=2, default=str))
        tmp.replace(path)
    if html is not None:
        from lepton.train.report import write_train_html

        write_train_html(result.to_json(), Path(html))
    return result
