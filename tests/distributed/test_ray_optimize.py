"""``lepton optimize --ray`` on a real local Ray cluster with two kinds of node: every setting measured on each
kind (as Ray tasks pinned to its nodes), priced at that kind's price, and the cheaper kind recommended; a node
lost mid-run fails its measurements with the reason while the run goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from cluster_helpers import LocalCluster, local_cluster

import lepton
from lepton.measure.timing import TimingPlan
from lepton.serve.refs import resolve_ref
from lepton.store import Store

pytestmark = pytest.mark.ray

CATALOG_KIND = "aws/c7i.large"  # in the price catalog ($0.08925 an hour), a custom resource of its node
CHEAP_KIND = "lab-box"  # not in it: priced by --hardware-price below the catalog kind; a label of its node
PLAN = TimingPlan(warmup=1, min_runs=5, min_seconds=0.0, max_seconds=0.5)
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema" / "optimize.json"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster({CATALOG_KIND: 1, CHEAP_KIND: 1}, labelled=(CHEAP_KIND,)) as c:
        yield c


def test_every_setting_runs_on_each_kind_and_the_cheaper_kind_that_meets_the_slo_wins(
    cluster: LocalCluster, tiny_artifact: object
) -> None:
    result = lepton.optimize(
        tiny_artifact,
        batch=[1],
        slo="p95<=250ms",
        qps=500,
        sensitivity="off",
        ray=cluster.address,
        hardware_price={CHEAP_KIND: 0.05},
        quick=PLAN,
        precise=PLAN,
    )
    measured = [t for t in result.trials if t.measured]
    # every measurement ran on a node of the kind it says, and both kinds measured the same settings
    for t in result.trials:
        assert t.hardware_kind in (CATALOG_KIND, CHEAP_KIND) and t.node in cluster.kinds[t.hardware_kind], t
    settings = {kind: {(t.variant, t.engine, t.runtime.intra_op_threads) for t in measured if t.hardware_kind == kind}
                for kind in (CATALOG_KIND, CHEAP_KIND)}  # fmt: skip
    assert settings[CATALOG_KIND] == settings[CHEAP_KIND] and len(settings[CHEAP_KIND]) >= 4
    assert {b.hardware_kind for b in result.baseline} == {CATALOG_KIND, CHEAP_KIND}
    # each trial is priced at its kind's price
    assert {t.priced.usd_per_hour for t in measured if t.hardware_kind == CHEAP_KIND} == {0.05}
    assert {t.priced.usd_per_hour for t in measured if t.hardware_kind == CATALOG_KIND} == {0.08925}
    # the cheaper kind meets the SLO (everything here does) and wins; the reason quotes what the other would cost
    rec = result.recommended_trial  # a variant, or the baseline when no variant beats it beyond the noise
    assert rec is not None and rec.hardware_kind == CHEAP_KIND and result.verdict in ("recommend", "keep")
    assert (
        result.trial(result.best_by_hardware[CHEAP_KIND]).usd_per_1m
        < result.trial(result.best_by_hardware[CATALOG_KIND]).usd_per_1m
    )
    assert f"On {CHEAP_KIND}: $" in result.reason and f"{CATALOG_KIND} would cost $" in result.reason
    assert "/month for 500 QPS with" in result.reason
    assert set(result.best_by_hardware) == {CATALOG_KIND, CHEAP_KIND}
    assert [(k.name, k.price.usd_per_hour, k.nodes) for k in result.kinds] == [
        (CATALOG_KIND, 0.08925, 1),
        (CHEAP_KIND, 0.05, 1),
    ]
    jsonschema.validate(result.to_json(), json.loads(SCHEMA.read_text()))
    # the driver's store records the run as for a local one, with the kind to deploy on
    stored = Store().run(result.run_id)
    assert stored.summary.status == "done" and len(stored.trials) == len(result.trials)
    assert {t["hardware_kind"] for t in stored.trials} == {CATALOG_KIND, CHEAP_KIND}
    served = resolve_ref("mlp:recommended", Store())
    assert served.deployment is not None and served.deployment.hardware_kind == CHEAP_KIND
    assert served.deployment.qps == 500 and served.deployment.replicas == rec.priced.replicas


def test_a_node_lost_mid_run_fails_its_measurements_and_the_run_goes_on(
    cluster: LocalCluster, tiny_artifact: object
) -> None:
    doomed_kind = "lab/doomed"
    doomed = cluster.add(doomed_kind)
    started: list[str] = []

    def progress(what: str, done: int, total: int) -> None:  # kill the node once it has started measuring
        if f"on {doomed_kind}" in what:
            started.append(what)
            if len(started) == 3:
                cluster.cluster.remove_node(doomed, allow_graceful=False)

    result = lepton.optimize(
        tiny_artifact,
        batch=[1],
        sensitivity="off",
        ray=cluster.address,
        hardware_price={CHEAP_KIND: 0.05, doomed_kind: 0.01},
        quick=PLAN,
        precise=PLAN,
        progress=progress,
    )
    lost = [t for t in result.trials if t.hardware_kind == doomed_kind and t.status == "failed"]
    assert lost and all("NodeLost" in (t.error or "") for t in lost)
    assert any("was lost mid-measurement" in (t.error or "") for t in lost)
    assert any(f"no node of kind {doomed_kind} is left" in (t.error or "") for t in lost)
    # the other kinds measured everything, and the run finished with a recommendation from what was measured
    others = [t for t in result.trials if t.hardware_kind != doomed_kind]
    assert others and all(t.status != "failed" for t in others)
    assert result.recommended_trial is not None and result.recommended_trial.measured
    assert Store().run(result.run_id).summary.status == "done"


def test_a_kind_missing_from_the_catalog_asks_for_its_price_in_one_line(cluster: LocalCluster, tiny_onnx: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "lepton", "optimize", str(tiny_onnx), "--ray", cluster.address, "--batch", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = p.stdout + p.stderr
    assert p.returncode == 2 and "Traceback" not in out, out
    assert f"hardware kind '{CHEAP_KIND}' of the cluster is not in the price catalog" in out
    assert f"--hardware-price {CHEAP_KIND}=USD_PER_HOUR" in out


def test_optuna_measures_the_settings_it_picks_one_by_one_on_their_kind(
    cluster: LocalCluster, tiny_artifact: object
) -> None:
    result = lepton.optimize(
        tiny_artifact,
        batch=[1],
        trials=3,
        sensitivity="off",
        ray=cluster.address,
        hardware_price={CHEAP_KIND: 0.05},
        quick=PLAN,
        precise=PLAN,
    )
    screened = [t for t in result.trials if t.rung == 0 and not t.is_baseline]
    assert result.search.strategy == "optuna" and 1 <= len(screened) <= 3
    assert all(t.measured and t.node in cluster.kinds[t.hardware_kind or ""] for t in screened)
