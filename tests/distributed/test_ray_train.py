"""``lepton train ... --ray --workers 2``: the digits recipe trained data-parallel by two Ray Train workers on a
real local cluster reaches the accuracy bar a run on one machine reaches, and lands in the store the same way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cluster_helpers import LocalCluster, local_cluster

import lepton
from lepton.errors import UserError
from lepton.store import Store

pytestmark = pytest.mark.ray

ACCURACY_BAR = 0.95  # the digits CNN on one machine: 0.96-0.98 after 5 epochs


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster({}, head_cpus=2) as c:
        yield c


def test_two_workers_train_the_digits_recipe_to_the_bar_and_store_it_as_a_local_run(cluster: LocalCluster) -> None:
    r = lepton.train("classify", example="digits", epochs=5, name="digits-ray", ray=cluster.address, workers=2)
    assert r.metrics["accuracy"] >= ACCURACY_BAR, r.metrics
    workers = r.training.workers or ()
    assert [w["rank"] for w in workers] == [0, 1] and len({w["pid"] for w in workers}) == 2  # two processes
    assert len(r.training.history) == 5 and "trained data-parallel on 2 Ray Train workers" in r.notes
    # the exported model, its eval split and the run are in the store as after `lepton train` on one machine
    store = Store()
    stored = store.model_artifact("digits-ray")
    assert stored is not None and stored.id == r.artifact.id
    assert r.artifact.file("eval_data") is not None and r.parity is not None and r.parity.same_class == 1.0
    run = store.run(r.run_id or "")
    assert run.summary.kind == "train" and run.payload["metrics"]["accuracy"] == r.metrics["accuracy"]
    assert run.payload["options"]["workers"] == 2


def test_more_workers_than_the_cluster_has_cpus_is_one_line(cluster: LocalCluster) -> None:
    with pytest.raises(UserError, match=r"--workers 8: the cluster at .* has 2 CPUs and each worker needs one"):
        lepton.train("classify", example="digits", epochs=1, ray=cluster.address, workers=8)
