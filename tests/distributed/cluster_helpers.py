"""Real local Ray clusters (``ray.cluster_utils.Cluster``): a head that runs nothing, and nodes that advertise a
kind of hardware. Few CPUs, no dashboard; every process a cluster started is gone when its fixture ends."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil
import ray
from ray.cluster_utils import Cluster

# a lost node is noticed within a couple of seconds rather than Ray's default of about fifteen
FAST_HEALTH_CHECKS = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}


@dataclass
class LocalCluster:
    """A cluster on this machine whose nodes say which kind of hardware they are."""

    cluster: Cluster
    kinds: dict[str, set[str]] = field(default_factory=dict)  # kind -> node ids

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add(self, kind: str | None, cpus: int = 1, *, label: bool = False) -> Any:
        """A node of ``kind`` (the custom resource ``ray start --resources`` would give, or with ``label`` the
        node label ``ray start --labels`` would), or of no kind."""
        resources = {f"lepton-hw:{kind}": 1} if kind and not label else {}
        labels = {"lepton-hw": kind} if kind and label else {}
        node = self.cluster.add_node(num_cpus=cpus, resources=resources, labels=labels)
        if kind:
            self.kinds.setdefault(kind, set()).add(node.node_id)
        self.cluster.wait_for_nodes()
        return node


@contextmanager
def local_cluster(
    nodes: Mapping[str | None, int], head_cpus: int = 0, labelled: tuple[str, ...] = ()
) -> Iterator[LocalCluster]:
    """A cluster with a node per entry of ``nodes`` (kind -> CPUs; the kinds in ``labelled`` advertised by a node
    label, the others by a custom resource); on exit it is shut down and none of the processes it started is
    left."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": head_cpus, "include_dashboard": False, "_system_config": FAST_HEALTH_CHECKS},
    )
    local = LocalCluster(cluster)
    try:
        for kind, cpus in nodes.items():
            local.add(kind, cpus, label=kind in labelled)
        yield local
    finally:
        if ray.is_initialized():
            ray.shutdown()
        started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        logs = cluster.head_node.get_session_dir_path() if cluster.head_node else None
        cluster.shutdown()
        _, alive = psutil.wait_procs(started, timeout=30)
        left = [f"{p.pid} {' '.join(p.cmdline()[:2])}" for p in alive if p.is_running()]
        if logs:  # the cluster's session folder (its logs, under /tmp/ray)
            shutil.rmtree(logs, ignore_errors=True)
        assert not left, f"Ray processes left behind: {left}"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """``lepton serve``'s app on this machine (uvicorn on loopback, in a thread): what Ray Serve must match."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LocalServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the local server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
