"""The torch engine's one-line variants on a real PyTorch module: bf16 autocast only where the CPU has native
bf16, int8 quantize_dynamic, torch.compile where a C++ compiler is found; each runs and stays close to fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from machines import fake_hardware

import lepton
from lepton.engines import ENGINES, RuntimeConfig, open_session
from lepton.engines.torch_eager import compiler_missing, one_liner
from lepton.errors import EngineError, UserError
from lepton.ir.artifact import Artifact
from lepton.quality import fidelity
from lepton.store import Store

BF16_CPU = fake_hardware(flags=("avx512f", "avx512_bf16"))
PLAIN_CPU = fake_hardware(flags=("avx2",))


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).eval()
    store = Store(tmp_path_factory.mktemp("home"))
    art: Artifact = lepton.import_model(net, example_input=torch.zeros(1, 64), name="one-liners", store=store)
    return art


def x(rows: int) -> dict[str, np.ndarray]:
    return {"input_0": np.random.default_rng(1).standard_normal((rows, 64)).astype(np.float32)}


def offered(hw: object) -> list[dict[str, str]]:
    return [dict(rc.options) for rc in ENGINES.get("torch")().runtime_options(hw, [1, 32]) if rc.batch_size == 1]  # type: ignore[arg-type]


def test_bf16_autocast_is_offered_only_where_the_cpu_has_native_bf16() -> None:
    assert {"precision": "bf16"} in offered(BF16_CPU)
    assert {"precision": "bf16"} not in offered(PLAIN_CPU)


def test_int8_and_compile_are_offered_on_any_cpu_and_fp32_eager_is_left_to_the_baseline() -> None:
    for hw in (BF16_CPU, PLAIN_CPU):
        options = offered(hw)
        assert {"precision": "int8"} in options and {} not in options
        assert ({"compile": "inductor"} in options) == (compiler_missing() is None)
    configs = ENGINES.get("torch")().runtime_options(PLAIN_CPU, [1, 32])
    assert {rc.batch_size for rc in configs} == {1, 32} and {rc.intra_op_threads for rc in configs} == {2}


@pytest.mark.parametrize(
    ("options", "min_cosine"),
    [({"precision": "bf16"}, 0.99), ({"precision": "int8"}, 0.99), ({"compile": "inductor"}, 0.99999)],
    ids=["bf16", "int8", "compile"],
)
def test_each_one_liner_runs_and_stays_close_to_fp32(mlp: Artifact, options: dict[str, str], min_cosine: float) -> None:
    if "compile" in options and compiler_missing():
        pytest.skip(compiler_missing() or "")
    want = open_session("torch", mlp).run(x(8))["output_0"]
    session = open_session("torch", mlp, RuntimeConfig(options=options))
    got = session.run(x(8))["output_0"]
    assert got.dtype == np.float32 and got.shape == want.shape  # bf16 outputs come back as float32
    assert fidelity(want, got)["cosine_min"] >= min_cosine
    assert session.settings["precision"] == options.get("precision", "f32")  # type: ignore[attr-defined]


def test_a_quantized_or_compiled_module_is_prepared_once_for_the_sessions_of_a_variant(mlp: Artifact) -> None:
    config = RuntimeConfig(options={"precision": "int8"})
    first, second = open_session("torch", mlp, config), open_session("torch", mlp, config)
    assert first.module is second.module  # type: ignore[attr-defined]
    assert first.module is not open_session("torch", mlp).module  # type: ignore[attr-defined]  # fp32 untouched
    assert isinstance(mlp.torch_module[0], torch.nn.Linear)  # quantize_dynamic worked on a copy


def test_only_int8_is_batch_dependent() -> None:
    engine = ENGINES.get("torch")()
    assert engine.batch_dependent(RuntimeConfig(options={"precision": "int8"}))
    assert not engine.batch_dependent(RuntimeConfig(options={"precision": "bf16"}))
    assert not engine.batch_dependent(RuntimeConfig())


def test_a_session_runs_with_its_own_thread_count_whatever_another_set(tmp_path: Path) -> None:
    seen: list[int] = []

    class Seen(torch.nn.Module):  # records the thread count each run gets
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            out: torch.Tensor = self.lin(t)
            return out

    art = lepton.import_model(Seen().eval(), example_input=torch.zeros(1, 64), name="seen", store=Store(tmp_path))
    one = open_session("torch", art, RuntimeConfig(intra_op_threads=1))
    default = open_session("torch", art)
    before = torch.get_num_threads()
    seen.clear()
    one.run(x(2))
    default.run(x(2))
    assert seen == [1, ENGINES.get("torch")().threads_used(RuntimeConfig())]
    assert torch.get_num_threads() == before  # neither left its count behind


def test_unknown_options_are_refused_in_one_line(mlp: Artifact) -> None:
    with pytest.raises(UserError, match="precision 'fp8' is not one of f32, bf16, int8"):
        open_session("torch", mlp, RuntimeConfig(options={"precision": "fp8"}))
    with pytest.raises(UserError, match="unknown runtime option 'hint'"):
        open_session("torch", mlp, RuntimeConfig(options={"hint": "latency"}))


def test_one_liners_are_named_as_a_pytorch_user_writes_them() -> None:
    assert one_liner({"precision": "bf16"}) == "bf16 autocast"
    assert one_liner({"precision": "int8"}) == "int8 quantize_dynamic"
    assert one_liner({"compile": "inductor", "precision": "bf16"}) == "torch.compile + bf16 autocast"
    assert one_liner({}) == ""


def test_a_compile_that_fails_here_is_an_engine_error_a_failed_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch._inductor import config

    net = torch.nn.Sequential(torch.nn.Linear(37, 11), torch.nn.Tanh()).eval()  # a graph no cache holds
    art = lepton.import_model(net, example_input=torch.zeros(1, 37), name="no-compiler")
    monkeypatch.setattr(config.cpp, "cxx", (None, "false"))  # a "compiler" that exists and fails
    monkeypatch.setattr(config, "fx_graph_cache", False)
    session = open_session("torch", art, RuntimeConfig(options={"compile": "inductor"}))
    try:
        with pytest.raises(EngineError, match=r"torch.compile \(inductor\) failed here"):
            session.run({"input_0": np.zeros((3, 37), np.float32)})
    finally:
        torch._dynamo.reset()


def test_what_is_not_offered_here_is_said_with_why() -> None:
    engine = ENGINES.get("torch")()
    assert any("no native bf16" in why for why in engine.not_offered(PLAIN_CPU))
    assert not any("bf16" in why for why in engine.not_offered(BF16_CPU))
    assert any("C++ compiler" in why for why in engine.not_offered(PLAIN_CPU)) == (compiler_missing() is not None)
