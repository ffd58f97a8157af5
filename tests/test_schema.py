"""The published JSON Schemas: generated from the typed contracts, committed under docs/schema/, and true."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from cli_run import cli

from lepton.schemas import SCHEMAS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schema"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_committed_schema_is_the_generated_one(name: str) -> None:
    committed = json.loads((DOCS / f"{name}.json").read_text())
    assert committed == json.loads(json.dumps(SCHEMAS[name]())), (
        f"docs/schema/{name}.json is out of date: regenerate it with `lepton schema {name} > docs/schema/{name}.json`"
    )


def test_lepton_schema_prints_it() -> None:
    p = cli("schema", "optimize")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == json.loads((DOCS / "optimize.json").read_text())
    bad = cli("schema", "nope")
    assert bad.returncode == 2 and "optimize" in bad.stdout + bad.stderr


def test_a_real_optimize_result_validates(tiny_artifact: object, tmp_path: Path) -> None:
    import numpy as np

    import lepton
    from lepton.measure.timing import TimingPlan

    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32))
    plan = TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=0.5)
    result = lepton.optimize(tiny_artifact, data=tmp_path / "d.npz", batch=[1], quick=plan, precise=plan)
    jsonschema.validate(result.to_json(), json.loads((DOCS / "optimize.json").read_text()))
    bench = lepton.bench(tiny_artifact, batch=[1], plan=plan)
    jsonschema.validate(bench.to_json(), json.loads((DOCS / "bench.json").read_text()))
