"""``lepton serve MODEL --ray``: the same server (``serve.app.build_app``: protocol routes, batching, metrics,
dashboard) as a Ray Serve deployment, its replicas sized from the target QPS and the per-replica capacity the
navigator measured, and placed on the kind of node that capacity was measured on.

The models travel through a small detached actor that holds their files (``lepton-depot``): a replica started
later, by autoscaling or after a crash, finds them there even when the deploying process is gone; each node
unpacks them once into a cache of its own (``shipping``). No shared filesystem is assumed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from lepton.cost.model import DEFAULT_MAX_UTILIZATION, replicas_for
from lepton.distributed import require_ray
from lepton.distributed.cluster import NAMESPACE, alive_nodes, connected, nodes_by_kind, on_kind, pinned
from lepton.distributed.shipping import Package, node_cache, pack, remove, unpack
from lepton.engines.base import ENGINES, RuntimeConfig
from lepton.errors import UserError
from lepton.ir.artifact import Artifact
from lepton.measure.prediction import Prediction
from lepton.navigate.deployment import Deployment
from lepton.options import positive_qps
from lepton.serve.config import ServeConfig
from lepton.serve.refs import ResolvedModel

APP = "lepton"
DEPLOYMENT = "Lepton"
DEPOT = "lepton-depot"
SCOPE = "serve"  # the node cache's folder for served artifacts


@dataclass(frozen=True)
class ReplicaPlan:
    """How many replicas, and why: at ``qps`` each replica is loaded to 80% of its measured capacity (as the
    navigator priced it); bursts up to twice the target scale out to ``max_replicas``."""

    min_replicas: int
    max_replicas: int
    target_ongoing_requests: float = 2.0
    max_ongoing_requests: int = 256
    why: str = ""
    num_cpus: float = 1.0
    placement: dict[str, Any] = field(default_factory=dict)  # actor options that pin replicas to a kind of node

    @property
    def autoscaling(self) -> dict[str, Any] | None:
        if self.min_replicas == self.max_replicas:
            return None
        return {
            "min_replicas": self.min_replicas,
            "initial_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target_ongoing_requests": self.target_ongoing_requests,
        }


def plan_replicas(cfg: ServeConfig, models: Sequence[ResolvedModel], qps: float | None) -> ReplicaPlan:
    """Replicas from ``qps`` (else the optimize run's target) and each model's measured capacity; a model with
    no measured capacity cannot be sized (one replica without ``--qps``)."""
    deployments = [m.deployment for m in models]
    target = qps if qps is not None else next((d.qps for d in deployments if d and d.qps), None)
    threads = max(ENGINES.get(cfg.engine or m.engine)().threads_used(m.runtime) for m in models)
    cpus = float(max(1, threads))
    max_ongoing = max(cfg.max_queue, 16)
    if target is None:
        why = "1 replica: give --qps (or optimize with --qps) to size replicas from the measured capacity"
        return ReplicaPlan(1, 1, 2.0, max_ongoing, why, cpus)
    positive_qps(target)
    need, ongoing, parts = 1, 1.0, []
    for m in models:
        d = m.deployment
        if d is None or not d.throughput_per_s:
            raise UserError(
                f"--qps: {m.name} has no capacity measured by `lepton optimize`, so its replicas cannot be sized; "
                f"run `lepton optimize {m.name} --qps {target:g}` first, or leave out --qps for one replica"
            )
        n = replicas_for(target, d.throughput_per_s)
        per_replica = target / n  # requests/s each replica takes at the target
        latency_s = (d.latency_ms.mean if d.latency_ms else 1000.0 / d.throughput_per_s) / 1000.0
        ongoing = max(ongoing, per_replica * 2 * latency_s)  # Little's law: queued + running (about 2x a batch)
        need = max(need, n)
        parts.append(f"{m.name} {_rate(d.throughput_per_s)}/s per replica")
    why = (
        f"{need} replica{'s carry' if need != 1 else ' carries'} {target:g} QPS at {DEFAULT_MAX_UTILIZATION:.0%} "
        f"of the measured capacity ({', '.join(parts)}); up to {2 * need} for bursts"
    )
    target_ongoing = round(max(1.0, ongoing), 2)
    return ReplicaPlan(need, 2 * need, target_ongoing, max(max_ongoing, math.ceil(4 * target_ongoing)), why, cpus)


def _rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _quiet() -> None:
    """Ray Serve's own INFO lines (started, deleting ...): what Lepton prints says it."""
    logging.getLogger("ray.serve").setLevel(logging.WARNING)


def _placement(models: Sequence[ResolvedModel]) -> tuple[dict[str, Any], str]:
    """Pin replicas to the kind of node the recommendation was measured on (when it was measured on one)."""
    kinds = {m.deployment.hardware_kind for m in models if m.deployment and m.deployment.hardware_kind}
    if not kinds:
        return {}, "any node (the capacity was measured on the machine that ran lepton optimize)"
    if len(kinds) > 1:
        raise UserError(
            f"the models were measured on different kinds of node ({', '.join(sorted(kinds))}); one deployment "
            "runs on one kind: serve them separately"
        )
    kind = kinds.pop()
    nodes = nodes_by_kind().get(kind)
    if not nodes:
        raise UserError(
            f"the recommendation was measured on {kind}, and no node of the cluster is of that kind now; add one "
            f"(`ray start ... --resources '{{\"lepton-hw:{kind}\": 1}}'`), or optimize again on the nodes there are"
        )
    return on_kind(kind, nodes[0].by), f"nodes of kind {kind}"


# -- the replica -----------------------------------------------------------------------------------------
class Depot:
    """The served artifacts' files, for the replicas (a detached actor: it outlives the deploying process)."""

    def __init__(self) -> None:
        self.packages: dict[str, Package] = {}

    def put(self, aid: str, package: Package) -> None:
        self.packages[aid] = package

    def has(self) -> list[str]:
        return list(self.packages)

    def get(self, aid: str) -> Package:
        return self.packages[aid]

    def keep(self, ids: list[str]) -> None:
        self.packages = {k: v for k, v in self.packages.items() if k in ids}


class LeptonReplica:
    """One replica: the models from the depot, served by ``build_app`` as on one machine."""

    def __init__(self, cfg: dict[str, Any], models: list[dict[str, Any]]) -> None:
        self.cfg = cfg
        self.models = models

    def __serve_build_asgi_app__(self) -> Any:
        import ray

        from lepton.serve.app import build_app

        depot = ray.get_actor(DEPOT, namespace=NAMESPACE)
        cache = node_cache(SCOPE)

        def artifact(aid: str) -> Artifact:
            if (cache / aid).exists():
                return Artifact.load(cache / aid)
            return unpack(cast(Package, ray.get(depot.get.remote(aid))), cache)

        cfg = ServeConfig.from_json(self.cfg)
        return build_app(cfg, [(m["ref"], _resolved(m, artifact)) for m in self.models])


def _resolved(m: Mapping[str, Any], artifact: Callable[[str], Artifact]) -> ResolvedModel:
    deployment = Deployment.from_json(m["deployment"]) if m.get("deployment") else None
    return ResolvedModel(
        name=m["name"],
        artifact=artifact(m["artifact"]),
        runtime=RuntimeConfig.from_json(m["runtime"]),
        version=m["version"],
        reference=artifact(m["reference"]) if m.get("reference") else None,
        prediction=Prediction.from_json(m["prediction"]) if m.get("prediction") else None,
        engine=m["engine"],
        deployment=deployment,
    )


def _shipped(ref: str, r: ResolvedModel) -> dict[str, Any]:
    return {
        "ref": ref,
        "name": r.name,
        "artifact": r.artifact.id,
        "runtime": r.runtime.to_json(),
        "version": r.version,
        "reference": r.reference.id if r.reference is not None else None,
        "prediction": r.prediction.to_json() if r.prediction else None,
        "engine": r.engine,
        "deployment": r.deployment.to_json() if r.deployment else None,
    }


def _stock(models: Sequence[ResolvedModel]) -> None:
    """Put the artifacts (served and reference) in the depot, and only those."""
    ray = require_ray()
    depot = (
        ray.remote(num_cpus=0)(Depot)
        .options(name=DEPOT, namespace=NAMESPACE, lifetime="detached", get_if_exists=True)
        .remote()
    )
    arts = {a.id: a for r in models for a in (r.artifact, r.reference) if a is not None}
    have = set(ray.get(depot.has.remote()))
    ray.get([depot.put.remote(aid, pack(a.with_(torch_module=None))) for aid, a in arts.items() if aid not in have])
    ray.get(depot.keep.remote(list(arts)))


# -- what the CLI and the Python face call ---------------------------------------------------------------
@dataclass(frozen=True)
class RayDeployment:
    """A deployment started on Ray Serve: where it answers, and how its replicas were sized and placed."""

    url: str
    models: tuple[str, ...]
    plan: ReplicaPlan
    placement: str

    def lines(self) -> list[str]:
        p = self.plan
        scale = (
            f"{p.min_replicas} to {p.max_replicas} (autoscaling at {p.target_ongoing_requests:g} ongoing requests "
            "per replica)"
            if p.autoscaling
            else str(p.min_replicas)
        )
        return [
            f"lepton serve on Ray: {self.url}  models: {', '.join(self.models)}",
            f"replicas: {scale}, {p.num_cpus:g} CPU each, on {self.placement}",
            f"why: {p.why}",
            "status: lepton serve --ray --status; stop: lepton serve --ray --stop",
        ]


def deploy(
    address: str,
    cfg: ServeConfig,
    models: Sequence[tuple[str, ResolvedModel]],
    *,
    qps: float | None = None,
    timeout_s: float = 600.0,
) -> RayDeployment:
    """Deploy (or redeploy) the ``lepton`` application on the cluster and wait until its replicas are up (one
    line when they are not within ``timeout_s``: no node can hold them, or they fail to start)."""
    if not models:
        raise UserError("lepton serve --ray: name at least one MODEL to serve")
    resolved = [r for _, r in models]
    plan = plan_replicas(cfg, resolved, qps)
    ray = require_ray()
    from ray import serve

    _quiet()
    with connected(address):
        placement, where = _placement(resolved)
        plan = replace(plan, placement=placement)
        try:
            _stock(resolved)
            serve.start(http_options={"host": cfg.host, "port": cfg.port})
            url = _answers_at(cfg)
            replica_cfg = replace(cfg, models=(), workers=1).to_json()
            options: dict[str, Any] = {"num_cpus": plan.num_cpus, **placement}
            deployment: Any = serve.deployment(
                serve.ingress()(LeptonReplica),
                name=DEPLOYMENT,
                ray_actor_options=options,
                max_ongoing_requests=plan.max_ongoing_requests,
                **(
                    {"autoscaling_config": plan.autoscaling}
                    if plan.autoscaling
                    else {"num_replicas": plan.min_replicas}
                ),
            )
            app = deployment.bind(replica_cfg, [_shipped(ref, r) for ref, r in models])
            target = serve.RunTarget(app, name=APP, route_prefix="/")
            serve.run_many([target], wait_for_ingress_deployment_creation=False, wait_for_applications_running=False)
            _wait_running(timeout_s)
        except (ray.exceptions.RayError, RuntimeError) as e:
            raise UserError(
                f"lepton serve --ray: the deployment did not start ({str(e).splitlines()[0]}); the replicas' logs are "
                "under the cluster's session folder (logs/serve/), `ray status` shows its resources"
            ) from None
    return RayDeployment(url, tuple(r.name for r in resolved), plan, where)


def _answers_at(cfg: ServeConfig) -> str:
    """Where the proxies answer: ``--host``/``--port``, unless Ray Serve was already running on the cluster with
    its own (it keeps those; Serve says so in a warning)."""
    try:
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        if client is not None:
            return f"http://{client.http_config.host}:{client.http_config.port}"
    except Exception:  # noqa: BLE001,S110  a Ray Serve without this accessor: what was asked
        pass
    return f"http://{cfg.host}:{cfg.port}"


def _wait_running(timeout_s: float) -> None:
    """Until the application runs; its failure, or what it still waits for at ``timeout_s``, as one line."""
    import time

    from ray import serve

    deadline = time.monotonic() + timeout_s
    while True:
        app = serve.status().applications.get(APP)
        state = str(getattr(app.status, "value", app.status)) if app else "NOT_STARTED"
        if state == "RUNNING":
            return
        message = " ".join((app.message if app else "").split())[:400]
        if state in ("DEPLOY_FAILED", "UNHEALTHY"):
            raise UserError(f"lepton serve --ray: the deployment failed ({message or state.lower()})")
        if time.monotonic() > deadline:
            serve.delete(APP, _blocking=False)  # its pending replicas are removed in the background
            why = message or state.lower()
            raise UserError(
                f"lepton serve --ray: the replicas did not start within {timeout_s:.0f} s ({why}), so the deployment "
                "is removed; `ray status` shows whether the nodes have the CPUs they ask for"
            )
        time.sleep(0.5)


@dataclass(frozen=True)
class RayServeStatus:
    """What ``lepton serve --ray --status`` prints: the application, its replicas by state, and the proxies."""

    app: str | None  # the application's status (RUNNING, DEPLOYING, ...); None when nothing is deployed
    message: str = ""
    replicas: dict[str, int] = field(default_factory=dict)  # replica state -> count
    deployment: str | None = None  # the deployment's health (HEALTHY, UNHEALTHY, UPDATING ...)
    proxies: dict[str, str] = field(default_factory=dict)  # node id -> proxy health

    @property
    def healthy(self) -> bool:
        return self.app == "RUNNING" and self.deployment == "HEALTHY"

    def lines(self) -> list[str]:
        if self.app is None:
            return ["no Lepton deployment on this cluster; start one with lepton serve MODEL --ray"]
        replicas = ", ".join(f"{n} {state.lower()}" for state, n in sorted(self.replicas.items())) or "none"
        proxies = ", ".join(f"{node[:8]} {health.lower()}" for node, health in sorted(self.proxies.items()))
        out = [
            f"application {APP}: {self.app.lower()}" + (f" ({self.message})" if self.message else ""),
            f"deployment {DEPLOYMENT}: {(self.deployment or 'unknown').lower()}; replicas: {replicas}",
            f"proxies: {proxies or 'none'}",
        ]
        return out


def status(address: str) -> RayServeStatus:
    require_ray()
    from ray import serve

    _quiet()
    with connected(address):
        st = serve.status()
    proxies = {str(k): str(getattr(v, "value", v)) for k, v in st.proxies.items()}
    app = st.applications.get(APP)
    if app is None:
        return RayServeStatus(None, proxies=proxies)
    dep = app.deployments.get(DEPLOYMENT)
    return RayServeStatus(
        app=str(getattr(app.status, "value", app.status)),
        message=app.message or "",
        replicas={str(k): int(v) for k, v in (dep.replica_states if dep else {}).items()},
        deployment=str(getattr(dep.status, "value", dep.status)) if dep else None,
        proxies=proxies,
    )


def stop(address: str) -> bool:
    """Remove the ``lepton`` application (its replicas stop); False when there was none."""
    require_ray()
    from ray import serve

    _quiet()
    ray = require_ray()
    with connected(address):
        if APP not in serve.status().applications:
            return False
        serve.delete(APP)
        try:
            ray.kill(ray.get_actor(DEPOT, namespace=NAMESPACE))
        except ValueError:  # no depot (deployed by another version, or removed already)
            pass
        forget = ray.remote(remove)
        caches = [forget.options(**pinned(n, 0)).remote(node_cache(SCOPE)) for n in alive_nodes()]
        ray.wait(caches, num_returns=len(caches), timeout=30)
    return True
