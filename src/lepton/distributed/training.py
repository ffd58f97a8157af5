"""``lepton train ... --ray --workers N``: data-parallel training with Ray Train's ``TorchTrainer``.

Everything but the training loop stays where it is: the data is prepared, checked and split on this machine
(so a mistake is one line before anything runs on the cluster), the trained network comes back here, and the
export, the evaluation and the store are those of a local run. Each of the N workers builds the same network
from the same seed, PyTorch DDP (gloo on CPUs) averages the gradients, and each trains on its slice of every
epoch with ``batch_size / N`` rows per step (``training.loop.Shard``); the first worker's weights and history
come back through a small Ray actor, which needs no storage shared between the nodes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import replace
from typing import Any

from lepton.distributed import require_ray
from lepton.distributed.cluster import connected
from lepton.errors import LeptonError, UserError
from lepton.training.dataset import Prepared
from lepton.training.loop import Hyper, Progress, Shard, fit
from lepton.training.recipe import Recipe
from lepton.training.tune import Trained


class _Mailbox:
    """Holds what the workers send back until the driver takes it."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        self.items[key] = value

    def take(self) -> dict[str, Any]:
        return self.items


def _worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: its shard of every epoch, gradients averaged with the others."""
    import ray
    import ray.train
    import ray.train.torch
    import torch
    import torch.distributed as dist

    recipe, p, hp, seed, seconds = ray.get(config["payload"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    net = recipe.build(p, hp, seed)
    wrapped = ray.train.torch.prepare_model(net)

    def total(values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def agree(flag: bool) -> bool:
        return total([1.0 if flag else 0.0])[0] > 0

    deadline = time.perf_counter() + seconds if seconds is not None else None
    t0 = time.perf_counter()
    result = fit(
        net,
        recipe.torch_split(p, p.train),
        recipe.torch_split(p, p.val),
        hp,
        recipe.objective(p, hp),
        seed=seed,
        param_groups=recipe.param_groups(net, hp),
        deadline=deadline,
        shard=Shard(rank, world, wrapped, total, agree),
    )
    box = config["mailbox"]
    me = {"rank": rank, "pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(), "seconds": 0.0}
    me["seconds"] = round(time.perf_counter() - t0, 3)
    ray.get(box.put.remote(f"worker-{rank}", me))
    if rank == 0:
        state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        ray.get(box.put.remote("result", {"state": state, "fit": result}))
    ray.train.report({"epochs": len(result.history), "best_val_metric": result.best_metric})


def data_parallel(address: str, workers: int) -> Any:
    """A ``train_once`` that trains on ``workers`` Ray Train workers of the cluster at ``address``."""

    def train_once(
        recipe: Recipe,
        p: Prepared,
        hp: Hyper,
        seed: int,
        *,
        progress: Progress | None = None,
        phase: str = "",
        deadline: float | None = None,
        on_epoch: Any = None,
    ) -> Trained:
        ray = require_ray()
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        with connected(address):
            cpus = float(ray.cluster_resources().get("CPU", 0.0))
            if cpus < workers:
                raise UserError(
                    f"--workers {workers}: the cluster at {address} has {cpus:g} CPUs and each worker needs one; "
                    f"give --workers {max(1, int(cpus))} or add nodes"
                )
            mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()
            seconds = None if deadline is None else max(1.0, deadline - time.perf_counter())
            storage = tempfile.mkdtemp(prefix="lepton-ray-train-")
            trainer = TorchTrainer(
                _worker,
                train_loop_config={"payload": ray.put((recipe, p, hp, seed, seconds)), "mailbox": mailbox},
                scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": 1}),
                run_config=RunConfig(storage_path=storage, name=f"lepton-{uuid.uuid4().hex[:8]}"),
            )
            try:
                trainer.fit()
                got = ray.get(mailbox.take.remote())
            except Exception as e:
                if isinstance(e, LeptonError):
                    raise
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise LeptonError(f"training on Ray failed: {first}") from e
            finally:
                ray.kill(mailbox)
                shutil.rmtree(storage, ignore_errors=True)
        net = recipe.build(p, hp, seed)
        net.load_state_dict(got["result"]["state"])
        net.eval()
        ran = sorted((v for k, v in got.items() if k.startswith("worker-")), key=lambda w: w["rank"])
        return Trained(hp, net, replace(got["result"]["fit"], workers=ran))

    return train_once
