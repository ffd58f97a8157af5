"""The cluster Lepton runs on: connecting to it, and the kinds of hardware its nodes advertise.

A node says what kind of machine it is with a custom resource ``lepton-hw:<KIND>`` (any name, e.g.
``lepton-hw:aws/c7i.large``, a name of the price catalog) or a node label ``lepton-hw=<KIND>`` (label values
cannot hold ``/``: ``lepton-hw=c7i.large`` also finds ``aws/c7i.large`` in the catalog). Nodes that advertise
no kind (a head node that only coordinates) measure nothing.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.distributed import require_ray
from lepton.errors import UserError

KIND_RESOURCE = "lepton-hw:"
KIND_LABEL = "lepton-hw"
NAMESPACE = "lepton"
START_HINT = (
    "start nodes with `ray start --address HEAD:6379 --resources '{\"lepton-hw:aws/c7i.large\": 1}'` "
    "(or --labels lepton-hw=c7i.large)"
)


@dataclass(frozen=True)
class Node:
    """A live node of the cluster that advertises a kind of hardware."""

    node_id: str
    kind: str
    cpus: float
    address: str
    by: str  # "resource" or "label": how the node advertises its kind (how work is pinned to that kind)


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """A ``HOST:PORT`` address that nothing answers on: one line at once, not Ray's long retry."""
    m = re.fullmatch(r"\[?([\w.\-:]+?)\]?:(\d+)", address)
    if m is None or address.startswith("ray://"):
        return
    try:
        with socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout_s):
            return
    except OSError as e:
        raise UserError(
            f"--ray {address}: no Ray cluster answers there ({e.strerror or e}); start one with `ray start --head` "
            "and give the address it prints, or leave the address out for the cluster this machine joined"
        ) from None


def connect(address: str) -> bool:
    """Join the cluster at ``address`` (``auto``: the one this machine joined); True when this call connected
    (and the caller disconnects), False when this process was already connected."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    check_reachable(address)
    try:
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError as e:
        raise UserError(
            f"--ray {address}: cannot connect ({str(e).splitlines()[0]}); start a cluster with `ray start --head` "
            "on this machine, or give the address of one (HOST:6379)"
        ) from None
    return True


@contextmanager
def connected(address: str) -> Iterator[None]:
    """Connected to the cluster for the duration of the block (disconnecting only if this block connected)."""
    ray = require_ray()
    mine = connect(address)
    try:
        yield
    finally:
        if mine:
            ray.shutdown()


def _kind_of(info: Mapping[str, Any]) -> tuple[str, str] | None:
    resources = [k[len(KIND_RESOURCE) :] for k in info.get("Resources", {}) if k.startswith(KIND_RESOURCE)]
    label = (info.get("Labels") or {}).get(KIND_LABEL)
    kinds = {*resources, *([label] if label else [])}
    if len(kinds) > 1:
        raise UserError(
            f"node {info.get('NodeManagerAddress')} ({str(info.get('NodeID'))[:8]}) advertises several hardware "
            f"kinds ({', '.join(sorted(kinds))}); give each node one"
        )
    if resources:
        return resources[0], "resource"
    return (label, "label") if label else None


def nodes_by_kind() -> dict[str, list[Node]]:
    """The live nodes that advertise a kind of hardware, by kind (each kind's nodes in a stable order)."""
    ray = require_ray()
    out: dict[str, list[Node]] = {}
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        found = _kind_of(info)
        if found is None:
            continue
        kind, by = found
        node = Node(info["NodeID"], kind, float(info["Resources"].get("CPU", 0.0)), info["NodeManagerAddress"], by)
        out.setdefault(kind, []).append(node)
    for nodes in out.values():
        nodes.sort(key=lambda n: n.node_id)
    return dict(sorted(out.items()))


def alive_nodes() -> list[Node]:
    """Every live node, of a kind or not (what a clean-up visits)."""
    ray = require_ray()
    return [
        Node(n["NodeID"], "", float(n["Resources"].get("CPU", 0.0)), n["NodeManagerAddress"], "")
        for n in ray.nodes()
        if n.get("Alive")
    ]


def alive(node_id: str) -> bool:
    ray = require_ray()
    return any(n["NodeID"] == node_id and n.get("Alive") for n in ray.nodes())


def kind_prices(
    kinds: list[str], given: Mapping[str, float], catalog: PriceCatalog | None = None
) -> dict[str, PricePoint]:
    """What an hour of each kind costs: ``--hardware-price`` first, else the catalog entry of that name; a kind
    neither names is one line asking for its price."""
    unknown = sorted(set(given) - set(kinds))
    if unknown:
        raise UserError(
            f"--hardware-price {unknown[0]}: no node of the cluster is of that kind; its kinds: {', '.join(kinds)}"
        )
    catalog = catalog or PriceCatalog.load()
    out = {}
    for kind in kinds:
        if kind in given:
            out[kind] = catalog.given(kind, given[kind], "given by --hardware-price", "--hardware-price")
            continue
        try:
            e = catalog.get(kind)
        except UserError:
            raise UserError(
                f"hardware kind {kind!r} of the cluster is not in the price catalog; give its price with "
                f"--hardware-price {kind}=USD_PER_HOUR, or advertise the node as a catalog instance "
                f"({', '.join(catalog.names()[:3])}, ...)"
            ) from None
        out[kind] = catalog.point(e, kind)
    return out


def pinned(node: Node, num_cpus: float) -> dict[str, Any]:
    """Ray task options that run on exactly ``node`` and hold ``num_cpus`` of it."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {
        "scheduling_strategy": NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        "num_cpus": num_cpus,
    }


def on_kind(kind: str, by: str) -> dict[str, Any]:
    """Ray actor options that place an actor on any node of ``kind`` (a tiny share of its kind resource, or
    its label)."""
    if by == "label":
        return {"label_selector": {KIND_LABEL: kind}}
    return {"resources": {KIND_RESOURCE + kind: 0.001}}
