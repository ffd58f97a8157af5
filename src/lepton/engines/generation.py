"""Generation sessions for causal LMs: greedy decoding with a KV cache, per-token timestamps, and logits.

A ``GenerationSession`` is a ``Session`` (``run({"input_ids": [1, n]})`` gives ``{"logits": [1, n, vocab]}``) that
also generates: ``generate(prompt, n)`` returns the greedy tokens with when each one arrived, which is what time to
first token, time per output token and tokens/s are measured from (``lepton.measure.generation``). Three engines
open the three causal-LM folder formats (``lepton.ir.causal_lm``): ``torch-lm`` (PyTorch eager through
transformers, the baseline), ``ort-genai`` (ONNX Runtime GenAI) and ``openvino-genai`` (OpenVINO GenAI).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lepton.engines.base import ENGINES, Engine, EngineSettings, RuntimeConfig
from lepton.errors import EngineError, UserError
from lepton.hardware import Hardware, default_threads, searched_threads
from lepton.ir.artifact import Artifact


@dataclass(frozen=True)
class Generation:
    """One greedy generation: the new tokens and, per token, seconds since the call began (``times[0]``: the
    time to first token)."""

    tokens: tuple[int, ...]
    times: tuple[float, ...]

    @property
    def ttft_s(self) -> float:
        return self.times[0]

    @property
    def total_s(self) -> float:
        return self.times[-1]

    @property
    def per_token_s(self) -> float:
        """Mean seconds between output tokens after the first (the decode step)."""
        if len(self.times) < 2:
            return float("nan")
        return (self.times[-1] - self.times[0]) / (len(self.times) - 1)


class GenerationSession(ABC):
    """An opened causal LM; ``generate`` decodes greedily (never stopping at end-of-text, so lengths compare)."""

    engine: str
    input_names = ["input_ids"]
    output_names = ["logits"]
    settings: EngineSettings

    @abstractmethod
    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation: ...

    batches: ClassVar[bool] = False  # decodes several sequences at once (``generate_streams``)

    def generate_streams(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        """Decode ``prompts`` as concurrent streams, greedily, ``max_new_tokens`` each, the way this engine serves
        several requests at once (continuous batching where it has it); per stream, its tokens and when each
        arrived (seconds since the call began)."""
        raise EngineError(f"{self.engine} decodes one sequence at a time")

    @abstractmethod
    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits at every position of ``ids``: float32 ``[len(ids), vocab]``."""

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = np.asarray(feeds["input_ids"])
        if ids.ndim != 2:
            raise EngineError(f"input 'input_ids' takes [batch, sequence] token ids; got shape {ids.shape}")
        return {"logits": np.stack([self.logits([int(t) for t in row]) for row in ids])}

    def close(self) -> None:
        return None


def lm_threads(config: RuntimeConfig) -> int:
    return config.intra_op_threads or default_threads()


class GenerationEngine(Engine):
    """Base of the causal-LM engines: refuses options it does not declare; thread counts as the policy says."""

    options: ClassVar[Mapping[str, str]] = {}

    def check_options(self, config: RuntimeConfig) -> None:
        unknown = sorted(set(config.options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise UserError(f"{self.name}: unknown runtime option {unknown[0]!r}; it takes {takes}")

    def runtime_options(self, hw: Hardware, batch_sizes: Sequence[int]) -> list[RuntimeConfig]:
        """One stream with all cores: a generation session decodes one sequence at a time."""
        return [RuntimeConfig(intra_op_threads=searched_threads(hw)[0])]

    def threads_used(self, config: RuntimeConfig) -> int:
        return lm_threads(config)


class TorchLmSession(GenerationSession):
    engine = "torch-lm"

    def __init__(self, artifact: Artifact, config: RuntimeConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from lepton.ir.hf import _quiet_transformers

        self._torch = torch
        self._threads = lm_threads(config)
        try:
            with _quiet_transformers():
                self._model = AutoModelForCausalLM.from_pretrained(artifact.path, dtype=torch.float32).eval()
        except Exception as e:  # noqa: BLE001  transformers raises many types
            raise EngineError(f"transformers cannot load {artifact.path}: {type(e).__name__}: {e}") from None
        self.settings = {"threads": self._threads, "precision": "f32", "kv_cache": "dynamic"}

    def _step(self, ids: Any, past: Any) -> tuple[Any, Any]:
        out = self._model(input_ids=ids, past_key_values=past, use_cache=True)
        return out.logits, out.past_key_values

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        from lepton.engines.torch_eager import torch_threads

        torch = self._torch
        tokens: list[int] = []
        times: list[float] = []
        with torch_threads(self._threads), torch.inference_mode():
            t0 = time.perf_counter()
            logits, past = self._step(torch.tensor([list(prompt)], dtype=torch.long), None)
            for _ in range(max_new_tokens):
                nxt = int(torch.argmax(logits[0, -1]))
                tokens.append(nxt)
                times.append(time.perf_counter() - t0)
                if len(tokens) == max_new_tokens:
                    break
                logits, past = self._step(torch.tensor([[nxt]], dtype=torch.long), past)
        return Generation(tuple(tokens), tuple(times))

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        from lepton.engines.torch_eager import torch_threads

        torch = self._torch
        with torch_threads(self._threads), torch.inference_mode():
            out = self._model(input_ids=torch.tensor([list(ids)], dtype=torch.long), use_cache=False)
        return np.asarray(out.logits[0].float().numpy(), dtype=np.float32)

    def close(self) -> None:
        self._model = None


@ENGINES.register("torch-lm")
class TorchLmEngine(GenerationEngine):
    description = "PyTorch eager through transformers (greedy decoding with a KV cache): the causal-LM baseline"
    formats: ClassVar[frozenset[str]] = frozenset({"hf-causal"})
    searched: ClassVar[bool] = False  # the baseline a user would deploy without Lepton
    served: ClassVar[bool] = False

    def open(self, artifact: Artifact, config: RuntimeConfig) -> TorchLmSession:
        self.check_options(config)
        return TorchLmSession(artifact, config)
