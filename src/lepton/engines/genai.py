"""ONNX Runtime GenAI and OpenVINO GenAI: the two generation runtimes a causal-LM variant runs on.

``ort-genai`` opens a ``genai-onnx`` folder (``og.Model``/``og.Generator``; threads through the session options
of ``genai_config.json``, overlaid). ``openvino-genai`` opens an ``openvino-genai`` folder (``LLMPipeline``; threads,
``INFERENCE_PRECISION_HINT`` and ``KV_CACHE_PRECISION`` set explicitly, since the CPU plugin otherwise picks bf16 on
CPUs with native bf16); its logits for perplexity come from the same IR compiled as a plain stateful model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from lepton.engines.base import ENGINES, RuntimeConfig
from lepton.engines.generation import Generation, GenerationEngine, GenerationSession, lm_threads
from lepton.errors import EngineError, EngineUnavailable, UserError
from lepton.hardware import Hardware, searched_threads
from lepton.ir.artifact import Artifact

OV_PRECISIONS = ("f32", "bf16")
KV_PRECISIONS = ("f32", "u8")  # f32: the cache as computed; u8: OpenVINO's compressed KV cache


class OrtGenAiSession(GenerationSession):
    engine = "ort-genai"

    def __init__(self, artifact: Artifact, config: RuntimeConfig) -> None:
        import onnxruntime_genai as og

        self._og = og
        threads = lm_threads(config)
        try:
            cfg = og.Config(str(artifact.path))
            options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
            cfg.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
            self._model = og.Model(cfg)
        except Exception as e:  # noqa: BLE001  GenAI raises RuntimeError and others
            raise EngineError(f"onnxruntime-genai cannot load {artifact.path}: {e}") from None
        self.settings = {"threads": threads}
        self._least = _sliding_window(artifact)

    def _generator(self, length: int, min_length: int = 0) -> Any:
        params = self._og.GeneratorParams(self._model)
        length = max(length, self._least)
        params.set_search_options(max_length=length, min_length=min_length, do_sample=False, batch_size=1)
        return self._og.Generator(self._model, params)

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        length = len(prompt) + max_new_tokens
        tokens: list[int] = []
        times: list[float] = []
        t0 = time.perf_counter()
        gen = self._generator(length, length)
        gen.append_tokens(np.asarray([prompt], dtype=np.int32))
        while len(tokens) < max_new_tokens and not gen.is_done():
            gen.generate_next_token()  # the first call picks from the prompt's logits
            tokens.append(int(gen.get_next_tokens()[0]))
            times.append(time.perf_counter() - t0)
        return Generation(tuple(tokens), tuple(times))

    batches: ClassVar[bool] = True

    def generate_streams(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        """A static batch (``og.Generator`` with ``batch_size`` = the streams; prompts of one length): ORT GenAI's
        CPU engine has no continuous batching for the builder's folders, so every stream gets a token per step."""
        length = max(len(prompts[0]) + max_new_tokens, self._least)
        params = self._og.GeneratorParams(self._model)
        params.set_search_options(max_length=length, min_length=length, do_sample=False, batch_size=len(prompts))
        t0 = time.perf_counter()
        gen = self._og.Generator(self._model, params)
        gen.append_tokens(np.asarray(prompts, dtype=np.int32))
        steps: list[np.ndarray] = []
        times: list[float] = []
        for _ in range(max_new_tokens):
            gen.generate_next_token()
            steps.append(np.asarray(gen.get_next_tokens()))
            times.append(time.perf_counter() - t0)
        return [Generation(tuple(int(s[i]) for s in steps), tuple(times)) for i in range(len(prompts))]

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        gen = self._generator(len(ids) + 1)
        gen.append_tokens(np.asarray([ids], dtype=np.int32))
        out = np.asarray(gen.get_output("logits"), dtype=np.float32)
        if out.ndim != 3 or out.shape[1] != len(ids):
            raise EngineError(f"ort-genai gave logits of shape {out.shape}; expected [1, {len(ids)}, vocab]")
        result: np.ndarray = out[0]
        return result

    def close(self) -> None:
        self._model = None


def _sliding_window(artifact: Artifact) -> int:
    """The sliding-window size of a model with windowed layers (Gemma-3: 512), else 0. Its attention needs a KV
    cache of at least that many positions ("KV cache capacity must be at least local_window_size"), so a
    generator's ``max_length`` is never set below it (greedy search stops at the asked token count anyway)."""
    try:
        decoder = json.loads((artifact.path / "genai_config.json").read_text())["model"]["decoder"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    window = decoder.get("sliding_window") if isinstance(decoder, dict) else None
    size = window.get("window_size") if isinstance(window, dict) else None
    return size if isinstance(size, int) else 0


@ENGINES.register("ort-genai")
class OrtGenAiEngine(GenerationEngine):
    description = "ONNX Runtime GenAI (og.Model / og.Generator; KV cache, greedy search) on the CPU"
    formats: ClassVar[frozenset[str]] = frozenset({"genai-onnx"})

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        try:
            import onnxruntime_genai  # noqa: F401
        except ImportError:
            return "onnxruntime-genai is not installed (pip install onnxruntime-genai)"
        return super().unavailable(artifact)

    def open(self, artifact: Artifact, config: RuntimeConfig) -> OrtGenAiSession:
        self.check_options(config)
        return OrtGenAiSession(artifact, config)


def ov_properties(config: RuntimeConfig, hw_bf16: bool) -> dict[str, str]:
    """The CPU plugin properties for ``config`` (``precision``: f32 | bf16; ``kv_cache``: f32 | u8)."""
    precision = config.option("precision", "f32").lower()
    kv = config.option("kv_cache", "f32").lower()
    if precision not in OV_PRECISIONS:
        raise UserError(f"openvino-genai: precision {precision!r} is not one of {', '.join(OV_PRECISIONS)}")
    if kv not in KV_PRECISIONS:
        raise UserError(f"openvino-genai: kv_cache {kv!r} is not one of {', '.join(KV_PRECISIONS)}")
    if precision == "bf16" and not hw_bf16:
        raise EngineUnavailable("openvino-genai: bf16 needs native bf16 (AVX512-BF16 or AMX); use f32")
    return {
        "INFERENCE_NUM_THREADS": str(lm_threads(config)),
        "INFERENCE_PRECISION_HINT": precision,
        "KV_CACHE_PRECISION": kv,
    }


class OvGenAiSession(GenerationSession):
    engine = "openvino-genai"

    def __init__(self, artifact: Artifact, config: RuntimeConfig) -> None:
        import openvino_genai as ovg

        from lepton.engines.openvino import bf16_native

        self._ovg = ovg
        self._path = artifact.path
        self._props = ov_properties(config, bf16_native())
        try:
            self._pipe = ovg.LLMPipeline(str(artifact.path), "CPU", **self._props)
        except RuntimeError as e:
            raise EngineError(
                f"openvino-genai cannot load {artifact.path}: {str(e).strip().splitlines()[-1]}"
            ) from None
        self._request: Any = None
        self._cb: tuple[int, Any] | None = None  # (streams, ContinuousBatchingPipeline), opened on first use
        self.settings = {
            "threads": int(self._props["INFERENCE_NUM_THREADS"]),
            "precision": self._props["INFERENCE_PRECISION_HINT"],
            "kv_cache": self._props["KV_CACHE_PRECISION"],
        }

    batches: ClassVar[bool] = True

    def _config(self, max_new_tokens: int) -> Any:
        cfg = self._ovg.GenerationConfig()
        cfg.max_new_tokens = max_new_tokens
        cfg.min_new_tokens = max_new_tokens
        cfg.ignore_eos = True
        cfg.do_sample = False
        cfg.apply_chat_template = False
        return cfg

    def _batching(self, streams: int) -> Any:
        """OpenVINO GenAI's ``ContinuousBatchingPipeline`` on the same folder and plugin properties (what
        ``lepton serve`` runs), compiled once per session for up to ``streams`` sequences."""
        if self._cb is None or self._cb[0] < streams:
            sc = self._ovg.SchedulerConfig()
            sc.cache_size = 0  # the paged KV cache grows as the streams need it (no fixed GB reserved up front)
            sc.max_num_seqs = streams
            sc.max_num_batched_tokens = max(256, streams * 64)
            sc.dynamic_split_fuse = True
            self._cb = None
            try:
                pipe = self._ovg.ContinuousBatchingPipeline(str(self._path), sc, "CPU", dict(self._props))
            except RuntimeError as e:
                msg = str(e).strip().splitlines()[-1]
                raise EngineError(f"openvino-genai cannot batch {self._path} continuously: {msg}") from None
            self._cb = (streams, pipe)
        return self._cb[1]

    def generate_streams(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        """Continuous batching: every prompt is a request added at once, and the pipeline is stepped until all end
        (each step schedules prefill chunks and decode tokens of every running request)."""
        import openvino as ov

        pipe = self._batching(len(prompts))
        cfg = self._config(max_new_tokens)
        tokens: list[list[int]] = [[] for _ in prompts]
        times: list[list[float]] = [[] for _ in prompts]
        t0 = time.perf_counter()
        handles = [pipe.add_request(i, ov.Tensor(np.asarray([p], dtype=np.int64)), cfg) for i, p in enumerate(prompts)]
        running = self._ovg.GenerationStatus.RUNNING
        while any(h.get_status() == running or h.can_read() for h in handles):
            pipe.step()
            now = time.perf_counter() - t0
            for i, h in enumerate(handles):
                while h.can_read():
                    for out in h.read().values():
                        tokens[i].extend(int(t) for t in out.generated_ids)
                        times[i].extend([now] * len(out.generated_ids))
        n = max_new_tokens
        short = sum(len(t) < n for t in tokens)
        if short:
            raise EngineError(f"openvino-genai's continuous batching ended {short} of {len(prompts)} streams early")
        return [Generation(tuple(t[:n]), tuple(s[:n])) for t, s in zip(tokens, times, strict=True)]

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        import openvino as ov

        ovg = self._ovg
        times: list[float] = []
        tokens: list[int] = []

        class Clock(ovg.StreamerBase):  # type: ignore[name-defined]
            def write(self, token: Any) -> Any:
                now = time.perf_counter() - t0
                got = [int(t) for t in token] if isinstance(token, list | tuple) else [int(token)]
                tokens.extend(got)
                times.extend([now] * len(got))
                return ovg.StreamingStatus.RUNNING

            def end(self) -> None:
                return None

        cfg = self._config(max_new_tokens)
        ids = ov.Tensor(np.asarray([prompt], dtype=np.int64))
        t0 = time.perf_counter()
        self._pipe.generate(ids, cfg, Clock())
        return Generation(tuple(tokens[:max_new_tokens]), tuple(times[:max_new_tokens]))

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        if self._request is None:
            from lepton.ir.openvino_ir import ov_core

            props = {k: v for k, v in self._props.items() if k != "KV_CACHE_PRECISION"}
            compiled = ov_core().compile_model(str(self._path / "openvino_model.xml"), "CPU", props)
            self._request = compiled.create_infer_request()
        n = len(ids)
        self._request.reset_state()
        feeds = {
            "input_ids": np.asarray([ids], dtype=np.int64),
            "attention_mask": np.ones((1, n), dtype=np.int64),
            "position_ids": np.arange(n, dtype=np.int64)[None],
            "beam_idx": np.zeros(1, dtype=np.int32),
        }
        out = self._request.infer(feeds)
        logits = np.asarray(next(iter(out.values())), dtype=np.float32)
        self._request.reset_state()
        result: np.ndarray = logits[0]
        return result

    def close(self) -> None:
        self._pipe = None
        self._request = None
        self._cb = None


@ENGINES.register("openvino-genai")
class OvGenAiEngine(GenerationEngine):
    description = "OpenVINO GenAI LLMPipeline on the CPU (threads, inference precision, KV-cache precision)"
    formats: ClassVar[frozenset[str]] = frozenset({"openvino-genai"})
    options: ClassVar[Mapping[str, str]] = {
        "precision": "f32 (the default) | bf16 (only on CPUs with native bf16)",
        "kv_cache": "f32 (the default) | u8 (OpenVINO's compressed KV cache)",
    }

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        try:
            import openvino_genai  # noqa: F401
        except ImportError:
            return "openvino-genai is not installed (pip install openvino-genai)"
        return super().unavailable(artifact)

    def runtime_options(self, hw: Hardware, batch_sizes: Sequence[int]) -> list[RuntimeConfig]:
        """All cores, f32 with an f32 and a u8 KV cache; bf16 too where the CPU has native bf16."""
        t = searched_threads(hw)[0]
        settings = [("f32", "f32"), ("f32", "u8")] + ([("bf16", "u8")] if hw.bf16_native else [])
        return [RuntimeConfig(intra_op_threads=t, options={"precision": p, "kv_cache": k}) for p, k in settings]

    def open(self, artifact: Artifact, config: RuntimeConfig) -> OvGenAiSession:
        self.check_options(config)
        return OvGenAiSession(artifact, config)
