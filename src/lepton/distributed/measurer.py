"""Measurements on a Ray cluster: every setting on each kind of node, one measurement at a time per node.

The driver (the process that runs ``lepton optimize --ray``) builds the variants and computes quality, which
do not depend on the machine; the timings do, so each is a Ray task pinned to one node of its kind that holds
all of that node's CPUs, and no node runs two at once. The workload and reference travel once per run, each
artifact once per node (``shipping``). A node lost mid-run fails the measurements it held (and the ones its
kind can no longer run) with that reason; the run goes on with the nodes that remain.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from lepton.cost.catalog import PricePoint
from lepton.distributed import require_ray
from lepton.distributed.cluster import START_HINT, Node, alive, connect, kind_prices, nodes_by_kind, pinned
from lepton.distributed.shipping import Package, node_cache, pack, remove, unpack
from lepton.errors import CandidateError, UserError
from lepton.hardware import Hardware, detect_hardware
from lepton.measure.job import Job, Recorded, measure_job
from lepton.measure.paired import PairedRatios
from lepton.measure.trial import Reference, Trial
from lepton.measure.workload import Workload

Item = TypeVar("Item")
PROBE_TIMEOUT_S = 120.0
TASK_TIMEOUT_S = 900.0  # far above any timing plan: a measurement not done by then never started (CPUs held)


class NodeLost(CandidateError):
    """The node that held a measurement left the cluster (or its kind has no node left)."""


class Stalled(CandidateError):
    """A measurement that did not finish in ``TASK_TIMEOUT_S``: its node never had its CPUs free."""


def _stalled(node: Node) -> Stalled:
    return Stalled(
        f"node {node.node_id[:8]} (kind {node.kind}) did not finish the measurement within {TASK_TIMEOUT_S:.0f} s; "
        "its CPUs may be held by other work (`ray status` shows them)"
    )


def _probe() -> Hardware:
    return detect_hardware()


def _measure(job: Job, package: Package, workload: Workload, reference: Reference, scope: str) -> Trial:
    """On the node: the artifact from the object store into the node's cache, then the measurement."""
    import ray

    art = unpack(package, node_cache(scope))
    trial = measure_job(replace(job, spec=replace(job.spec, artifact=art)), workload, reference)
    return trial.with_(node=ray.get_runtime_context().get_node_id())


def _cleanup(scope: str) -> None:
    remove(node_cache(scope))


class RayMeasurer:
    """A ``measure.job.Measurer`` whose kinds are the hardware kinds the cluster's nodes advertise."""

    def __init__(
        self,
        nodes: dict[str, list[Node]],
        hardware: dict[str, Hardware],
        prices: dict[str, PricePoint],
        data: tuple[Any, Any],
        owns_connection: bool,
    ) -> None:
        self.nodes = nodes
        self.kinds: tuple[str | None, ...] = tuple(nodes)
        self.shares_sessions = False  # sessions open on the nodes, not here
        self._hardware = hardware
        self._prices = prices
        self._data = data  # object refs of the workload and the reference
        self._owns = owns_connection
        self._packages: dict[str, Any] = {}  # artifact id -> object ref of its package
        self._inflight: dict[Any, tuple[int, Job, Node, float]] = {}  # ref -> (item, job, node, submitted at)
        self._all_nodes = [n for ns in nodes.values() for n in ns]
        self.lost: dict[str, str] = {}  # node id -> why it left
        self.scope = f"run-{uuid.uuid4().hex[:10]}"
        ray = require_ray()
        self._remote_measure = ray.remote(max_retries=0)(_measure)

    @classmethod
    def connect(
        cls, address: str, workload: Workload, reference: Reference, *, prices: Mapping[str, float] | None = None
    ) -> RayMeasurer:
        """Join the cluster, find its kinds of node and price them, learn each kind's hardware (a task on one
        node of each), and put the run's workload and reference in the object store."""
        ray = require_ray()
        mine = connect(address)
        try:
            nodes = nodes_by_kind()
            if not nodes:
                raise UserError(f"--ray {address}: no node of the cluster says what hardware it is; {START_HINT}")
            priced = kind_prices(list(nodes), prices or {})
            probe = ray.remote(_probe)
            refs = {k: probe.options(**pinned(ns[0], 0)).remote() for k, ns in nodes.items()}
            ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
            if len(ready) < len(refs):
                late = [k for k, r in refs.items() if r not in ready]
                raise UserError(
                    f"--ray {address}: nodes of kind {', '.join(late)} did not answer within {PROBE_TIMEOUT_S:.0f} s "
                    "(busy, or unhealthy); check `ray status`"
                )
            hardware = {k: ray.get(r) for k, r in refs.items()}
            data = (ray.put(workload), ray.put(reference))
        except BaseException:
            if mine:
                ray.shutdown()
            raise
        return cls(nodes, hardware, priced, data, mine)

    # -- what the run asks ---------------------------------------------------------------------------
    def hardware(self, kind: str | None) -> Hardware:
        assert kind is not None, "a cluster run measures every setting on a kind of node"
        return self._hardware[kind]

    def price(self, kind: str | None) -> PricePoint:
        assert kind is not None, "a cluster run measures every setting on a kind of node"
        return self._prices[kind]

    def node_count(self, kind: str | None) -> int:
        return sum(1 for n in self._all_nodes if n.kind == kind)

    def measure(self, job: Job) -> Trial:
        """One measurement on a node of its kind (waiting for it here)."""
        node = self._free_node(job.kind, set())
        if node is None:
            raise NodeLost(f"no node of kind {job.kind} is left in the cluster ({self._lost_text(job.kind)})")
        ray = require_ray()
        ref = self._submit(job, node)
        self._inflight[ref] = (0, job, node, time.monotonic())
        try:
            ready, _ = ray.wait([ref], timeout=TASK_TIMEOUT_S)
        except BaseException:  # interrupted: stop the measurement too
            self._cancel()
            raise
        if not ready:
            self._cancel()
            raise _stalled(node)
        del self._inflight[ref]
        outcome = self._outcome(ref, node)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def side_by_side(self, jobs: Sequence[Job]) -> tuple[list[Trial | BaseException], list[PairedRatios]]:
        """One after the other, each on a node of its kind: two tasks cannot share a node's CPUs by turns."""
        outcomes: list[Trial | BaseException] = []
        for job in jobs:
            try:
                outcomes.append(self.measure(job))
            except Exception as e:  # noqa: BLE001  the run records it as the job's failure
                outcomes.append(e)
        return outcomes, []

    def each(
        self,
        items: Sequence[Item],
        kind_of: Callable[[Item], str | None],
        start: Callable[[Item], Job | Recorded],
        finish: Callable[[Item, Job, Trial | BaseException], Recorded],
        stop: Callable[[], bool] | None = None,
    ) -> list[Recorded | None]:
        """Measure ``items`` side by side, one at a time per node, each on a node of its kind; started in
        order as nodes free up. Once ``stop`` says so, nothing more starts (the rest are None)."""
        ray = require_ray()
        out: list[Recorded | None] = [None] * len(items)
        pending = list(range(len(items)))
        busy: set[str] = set()
        stopped = False
        try:
            while True:
                while pending and not stopped:
                    i = next((i for i in pending if self._ready(kind_of(items[i]), busy)), None)
                    if i is None:
                        break  # every pending item waits for a node of its kind
                    if stop is not None and stop():
                        stopped = True
                        break
                    pending.remove(i)
                    item = items[i]
                    job = start(item)
                    if not isinstance(job, Job):
                        out[i] = job
                        continue
                    node = self._free_node(job.kind, busy)
                    if node is None:  # no node of this kind is left
                        why = f"no node of kind {job.kind} is left in the cluster ({self._lost_text(job.kind)})"
                        out[i] = finish(item, job, NodeLost(why))
                        continue
                    self._inflight[self._submit(job, node)] = (i, job, node, time.monotonic())
                    busy.add(node.node_id)
                if not self._inflight:  # nothing runs, so nothing waits for a node: all started, or stopped
                    return out
                ready, _ = ray.wait(list(self._inflight), num_returns=1, timeout=10.0)
                for ref in ready or self._overdue():
                    i, job, node, _ = self._inflight.pop(ref)
                    busy.discard(node.node_id)
                    outcome = self._outcome(ref, node) if ready else _stalled(node)
                    if not ready:
                        ray.cancel(ref, force=True)
                    out[i] = finish(items[i], job, outcome)
        finally:
            self._cancel()

    # -- dispatching ---------------------------------------------------------------------------------
    def _overdue(self) -> list[Any]:
        now = time.monotonic()
        return [ref for ref, (_, _, _, t0) in self._inflight.items() if now - t0 > TASK_TIMEOUT_S]

    def _ready(self, kind: str | None, busy: set[str]) -> bool:
        """Whether an item of ``kind`` can start now: a node of it is free, or none is left (it fails at once)."""
        nodes = self.nodes.get(kind or "", [])
        return not nodes or any(n.node_id not in busy for n in nodes)

    def _free_node(self, kind: str | None, busy: set[str]) -> Node | None:
        return next((n for n in self.nodes.get(kind or "", []) if n.node_id not in busy), None)

    def _submit(self, job: Job, node: Node) -> Any:
        art = job.spec.artifact
        if art.id not in self._packages:
            ray = require_ray()
            self._packages[art.id] = ray.put(pack(art))
        light = replace(job, spec=replace(job.spec, artifact=art.with_(torch_module=None)), session=None)  # packed
        workload, reference = self._data
        options = pinned(node, node.cpus)
        return self._remote_measure.options(**options).remote(
            light, self._packages[art.id], workload, reference, self.scope
        )

    def _outcome(self, ref: Any, node: Node) -> Trial | BaseException:
        """The trial, the exception the measurement raised, or NodeLost when the node (or its worker) died."""
        ray = require_ray()
        from ray.exceptions import RayError, RayTaskError

        try:
            trial = ray.get(ref)
        except RayTaskError as e:  # the measurement itself raised: the original exception
            cause = e.cause if isinstance(e.cause, BaseException) else e
            return cause
        except RayError as e:
            name = type(e).__name__
            if self._node_gone(node):
                why = f"node {node.node_id[:8]} ({node.address}, kind {node.kind}) was lost mid-measurement ({name})"
                self.lost[node.node_id] = why
                self.nodes[node.kind] = [n for n in self.nodes[node.kind] if n.node_id != node.node_id]
                return NodeLost(why)
            return NodeLost(f"the worker measuring it on node {node.node_id[:8]} died ({name}: {str(e)[:200]})")
        assert isinstance(trial, Trial)
        return trial

    @staticmethod
    def _node_gone(node: Node, wait_s: float = 20.0) -> bool:
        """Whether the node left the cluster; the cluster may take a few health checks to notice."""
        deadline = time.monotonic() + wait_s
        while True:
            if not alive(node.node_id):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    def _lost_text(self, kind: str | None) -> str:
        why = [w for nid, w in self.lost.items() if any(n.node_id == nid and n.kind == kind for n in self._all_nodes)]
        return "; ".join(why) or "its nodes left"

    def _cancel(self) -> None:
        """Stop what is still running (an interrupted run, a user's mistake found mid-way)."""
        ray = require_ray()
        for ref in list(self._inflight):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001,S110  the task finished or its node is gone: nothing to stop
                pass
        self._inflight.clear()

    def close(self) -> None:
        """Remove the run's artifacts from the nodes' caches, and leave the cluster if this run joined it."""
        ray = require_ray()
        if not ray.is_initialized():
            return
        self._cancel()
        cleanup = ray.remote(_cleanup)
        live = [n for ns in self.nodes.values() for n in ns]
        refs = [cleanup.options(**pinned(n, 0)).remote(self.scope) for n in live]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=30)
        self._packages.clear()
        if self._owns:
            ray.shutdown()
