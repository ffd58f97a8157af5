"""One thread policy: the effective CPUs decide every default thread count and the searched ones, and a torch
session sets its count only around its own runs (``torch.set_num_threads`` is process-wide)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from machines import fake_hardware

import lepton
from lepton.engines import ENGINES, RuntimeConfig, open_session
from lepton.engines.torch_eager import torch_threads
from lepton.hardware import default_threads, searched_threads, serving_lanes
from lepton.ir.artifact import Artifact
from lepton.store import Store
from lepton.training.loop import predict


class Probe(torch.nn.Module):
    """A linear layer that records the torch thread count each forward pass ran with."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 4)
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.get_num_threads())
        out: torch.Tensor = self.lin(x)
        return out


@pytest.fixture
def two_threads() -> Iterator[None]:
    """The process at 2 torch threads for the test (whatever the machine), put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def probe(tmp_path: Path) -> tuple[Probe, Artifact]:
    torch.manual_seed(0)
    net = Probe().eval()
    art = lepton.import_model(net, example_input=torch.zeros(1, 8), name="probe", store=Store(tmp_path))
    return net, art


@pytest.mark.usefixtures("two_threads")
def test_a_torch_session_with_one_thread_leaves_the_process_count_unchanged(probe: tuple[Probe, Artifact]) -> None:
    net, art = probe
    net.seen.clear()
    session = open_session("torch", art, RuntimeConfig(intra_op_threads=1))
    assert torch.get_num_threads() == 2  # opening sets nothing
    session.run({art.signature.input_names[0]: torch.zeros(3, 8).numpy()})
    assert net.seen == [1]  # the run had its one thread
    assert torch.get_num_threads() == 2  # and put the process's count back
    session.close()
    assert torch.get_num_threads() == 2


@pytest.mark.usefixtures("two_threads")
def test_torch_threads_puts_the_count_back_even_on_error() -> None:
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_training_runs_with_the_policys_threads_and_puts_the_count_back() -> None:
    before = torch.get_num_threads()
    other = 1 if default_threads() > 1 else 2  # the process at a count the policy would not choose
    torch.set_num_threads(other)
    try:
        net = Probe()
        predict(net, {"x": torch.zeros(5, 8)}, batch_size=5)
        assert net.seen == [default_threads()]
        assert torch.get_num_threads() == other
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ENGINES.names())
def test_every_engine_takes_its_default_and_searched_threads_from_the_policy(name: str) -> None:
    engine = ENGINES.get(name)()
    assert engine.threads_used(RuntimeConfig()) == default_threads()
    assert engine.threads_used(RuntimeConfig(intra_op_threads=3)) == 3
    for hw in (fake_hardware(physical_cores=1), fake_hardware(logical_cores=8, physical_cores=6, cpus=6.5)):
        threads = {rc.intra_op_threads for rc in engine.runtime_options(hw, [1])}
        assert threads <= set(searched_threads(hw)), f"{name} searches {threads} on {hw.physical_cores} cores"


def test_serving_lanes_follow_threads_and_cores() -> None:
    assert serving_lanes(8, cores=2) == 2  # never more lanes than the CPUs this process may use
    assert serving_lanes(1, cores=8) == 1
    assert serving_lanes(16, cores=16) == 4
    assert serving_lanes(2) == min(2, default_threads())


def test_omp_num_threads_caps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as Ray sets it for a task holding one CPU
    assert default_threads() == 1
    assert default_threads(fake_hardware(physical_cores=2)) == 2  # a given machine's figure is its own
