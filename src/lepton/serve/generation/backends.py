"""The engines that generate tokens for many requests at once, behind one small contract.

Every method is called from the one generation thread (``serve.generation.engine``): ORT GenAI's Engine insists on
its owner thread, and OpenVINO GenAI's pipeline is stepped from one loop. ``step`` runs one scheduling step of every
admitted request and returns the tokens each produced.

- ``openvino-genai``: ``ContinuousBatchingPipeline`` (paged KV cache; a new request joins the running batch at the
  next step; prompts split into chunks of ``max_batched_tokens``). Reads a GGUF directly, or an IR folder.
- ``ort-genai``: ONNX Runtime GenAI's ``Engine``. On CPU, with the folders its model builder writes, it batches
  statically (``configured_max_batch_size`` requests; its dynamic batching needs a paged-KV model). Measured here on
  SmolLM2 (disturbed: other agents running): 16 streams ~36-40 tokens/s aggregate vs ~110-180 for OpenVINO GenAI's
  continuous batching, so OpenVINO GenAI serves GGUF and IR, and ORT GenAI serves only its own folders. Its static
  engine refuses a per-request seed, so a sampled request that names a ``seed`` runs beside the engine on an
  ``og.Generator`` of its own (``random_seed``; one token per step, not batched with the others): the same seed
  gives the same text, as on OpenVINO GenAI.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from lepton.errors import UserError
from lepton.ir.causal_lm import prepended_bos
from lepton.serve.generation.layout import GenerationSettings, GenerativeSpec

Finish = Literal["stop", "length"]


@dataclass(frozen=True)
class Sampling:
    """One request's decoding: greedy when ``temperature`` is 0, else sampled with ``seed``."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    min_tokens: int = 0  # end-of-sequence is masked until this many tokens (vLLM's ``min_tokens``)
    seeded: bool = False  # the client named ``seed`` (else it was drawn at random): it must repeat


@dataclass(frozen=True)
class Produced:
    """What one request produced in one step: new token ids, and why it ended (None: it goes on)."""

    rid: int
    tokens: tuple[int, ...]
    finish: Finish | None = None


class Backend(Protocol):
    name: str

    def encode(self, text: str, *, special: bool) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def chat_prompt(self, messages: list[dict[str, str]]) -> str: ...
    def add(self, rid: int, ids: list[int], sampling: Sampling) -> None: ...
    def cancel(self, rid: int) -> None: ...
    def step(self) -> list[Produced]: ...
    def close(self) -> None: ...


class OpenVinoGenAi:
    """OpenVINO GenAI's continuous-batching pipeline (one compiled model, a paged KV cache shared by all streams)."""

    name = "openvino-genai"

    def __init__(self, path: Path, settings: GenerationSettings) -> None:
        import openvino_genai as ovg

        sc = ovg.SchedulerConfig()
        sc.cache_size = max(1, math.ceil(settings.kv_cache_gb))
        sc.max_num_seqs = settings.max_streams
        sc.max_num_batched_tokens = settings.max_batched_tokens
        sc.dynamic_split_fuse = True
        props: dict[str, Any] = {}
        if settings.threads:
            props["INFERENCE_NUM_THREADS"] = settings.threads
        self._ovg = ovg
        self.pipe = ovg.ContinuousBatchingPipeline(str(path), sc, "CPU", props)
        self.tokenizer = self.pipe.get_tokenizer()
        self.handles: dict[int, Any] = {}
        self.reasons: dict[int, Finish] = {}  # why a request ended, read before its status says so

    def encode(self, text: str, *, special: bool) -> list[int]:
        out = self.tokenizer.encode([text], add_special_tokens=special).input_ids.data[0]
        return [int(t) for t in out]

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return str(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True))

    def add(self, rid: int, ids: list[int], sampling: Sampling) -> None:
        import openvino as ov

        cfg = self._ovg.GenerationConfig()
        cfg.max_new_tokens = sampling.max_tokens
        cfg.min_new_tokens = sampling.min_tokens
        if sampling.temperature > 0:
            cfg.do_sample = True
            cfg.temperature = sampling.temperature
            cfg.top_p = sampling.top_p
            cfg.top_k = 0
            cfg.rng_seed = sampling.seed
        self.handles[rid] = self.pipe.add_request(rid, ov.Tensor(np.asarray([ids], dtype=np.int64)), cfg)

    def cancel(self, rid: int) -> None:
        handle = self.handles.pop(rid, None)
        self.reasons.pop(rid, None)
        if handle is not None:
            handle.cancel()

    def step(self) -> list[Produced]:
        if not self.handles:
            return []
        self.pipe.step()
        running = self._ovg.GenerationStatus.RUNNING
        none, length = self._ovg.GenerationFinishReason.NONE, self._ovg.GenerationFinishReason.LENGTH
        out = []
        for rid, h in list(self.handles.items()):
            tokens: list[int] = []
            if h.can_read():
                for o in h.read().values():
                    tokens.extend(o.generated_ids)
                    if o.finish_reason != none:
                        self.reasons[rid] = "length" if o.finish_reason == length else "stop"
            done = h.get_status() != running and not h.can_read()
            finish: Finish | None = self.reasons.pop(rid, "stop") if done else None
            if tokens or finish:
                out.append(Produced(rid, tuple(int(t) for t in tokens), finish))
            if done:
                del self.handles[rid]
        return out

    def close(self) -> None:
        for rid in list(self.handles):
            self.cancel(rid)


class OrtGenAi:
    """ONNX Runtime GenAI's Engine on a model-builder folder (``genai_config.json``)."""

    name = "ort-genai"

    def __init__(self, path: Path, settings: GenerationSettings) -> None:
        import onnxruntime_genai as og

        self._og = og
        config = og.Config(str(path))
        if settings.threads:
            config.set_provider_option("cpu", "intra_op_num_threads", str(settings.threads))  # pragma: no cover
        self.model = og.Model(config)
        self.engine = og.Engine(self.model)
        self.tokenizer = og.Tokenizer(self.model)
        self.bos = prepended_bos(path)  # the BOS the Hugging Face tokenizer adds and og.Tokenizer may not
        self.buffer = self.engine.create_event_buffer(max(64, 4 * settings.max_streams))
        self.requests: dict[int, tuple[Any, int]] = {}  # rid -> (Request, turn id)
        self.rid_of: dict[int, int] = {}  # id(Request) -> rid
        self.seeded: dict[int, _Seeded] = {}  # sampled requests with a client's seed, on their own generator

    def encode(self, text: str, *, special: bool) -> list[int]:
        ids = [int(t) for t in self.tokenizer.encode(text)]
        if special and self.bos is not None and ids[:1] != [self.bos]:
            ids.insert(0, self.bos)
        return ids

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(np.asarray(ids, dtype=np.int32)))

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return str(self.tokenizer.apply_chat_template(json.dumps(messages), add_generation_prompt=True))

    def add(self, rid: int, ids: list[int], sampling: Sampling) -> None:
        if sampling.seeded and sampling.temperature > 0:
            self.seeded[rid] = _Seeded.start(self._og, self.model, ids, sampling)
            return
        req = self.engine.create_request()
        opts = self._og.TurnOptions(req)
        opts.set_max_generated_tokens(sampling.max_tokens)
        opts.set_temperature(sampling.temperature)
        opts.set_min_generated_tokens(sampling.min_tokens)
        if sampling.temperature > 0:
            opts.set_do_sample(True)
            opts.set_top_p(sampling.top_p)
            opts.set_top_k(0)  # a seed is refused here: "a per-turn seed requires an Engine configured for dynamic
            # batching" (paged attention, which the builder makes for CUDA only); a seeded request is _Seeded
        turn = req.begin_turn(np.asarray(ids, dtype=np.int32), opts)
        self.requests[rid] = (req, turn)
        self.rid_of[id(req)] = rid

    def cancel(self, rid: int) -> None:
        self.seeded.pop(rid, None)
        entry = self.requests.pop(rid, None)
        if entry is not None:
            req, turn = entry
            self.rid_of.pop(id(req), None)
            req.cancel_turn(turn)
            req.close()

    def step(self) -> list[Produced]:
        out = [self.seeded[rid].step(rid) for rid in list(self.seeded)]
        for p in out:
            if p.finish is not None:
                del self.seeded[p.rid]
        return out + self._engine_step() if self.requests else out

    def _engine_step(self) -> list[Produced]:
        flags = self._og.EngineEventFlags
        got: dict[int, list[int]] = {}
        ends: dict[int, Finish] = {}
        for ev in list(self.engine.run(self.buffer)):
            rid = self.rid_of.get(id(ev.request))
            if rid is None:
                continue
            f = int(ev.flags)
            if f & int(flags.FAILED):
                raise RuntimeError(f"ONNX Runtime GenAI failed request {rid}: {ev.error_code}")
            if f & int(flags.TOKEN):
                got.setdefault(rid, []).append(int(ev.token))
            if f & int(flags.TURN_FINISHED):
                ends[rid] = "length" if ev.finish_reason == self._og.FinishReason.MAX_GENERATED_TOKENS else "stop"
        for rid in ends:
            req, _ = self.requests.pop(rid)
            self.rid_of.pop(id(req), None)
            req.close()
        return [Produced(rid, tuple(got.get(rid, ())), ends.get(rid)) for rid in {*got, *ends}]

    def close(self) -> None:
        for rid in [*self.requests, *self.seeded]:
            self.cancel(rid)


@dataclass
class _Seeded:
    """One sampled request with the client's seed on its own ``og.Generator`` (``random_seed``), a token per step."""

    generator: Any
    max_tokens: int
    made: int = 0

    @classmethod
    def start(cls, og: Any, model: Any, ids: list[int], sampling: Sampling) -> _Seeded:
        params = og.GeneratorParams(model)
        params.set_search_options(
            max_length=len(ids) + sampling.max_tokens,
            min_length=len(ids) + sampling.min_tokens,
            do_sample=True,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=0,
            random_seed=sampling.seed,
            batch_size=1,
        )
        generator = og.Generator(model, params)
        generator.append_tokens(np.asarray([ids], dtype=np.int32))
        return cls(generator, sampling.max_tokens)

    def step(self, rid: int) -> Produced:
        self.generator.generate_next_token()
        token = int(self.generator.get_next_tokens()[0])
        self.made += 1
        if self.made >= self.max_tokens:
            return Produced(rid, (token,), "length")
        if self.generator.is_done():  # end of sequence: the token is not text
            return Produced(rid, (), "stop")
        return Produced(rid, (token,), None)


def open_backend(spec: GenerativeSpec, settings: GenerationSettings) -> Backend:
    """The backend for ``spec``'s layout, opened on the model it names."""
    try:
        if spec.backend == "ort-genai":
            return OrtGenAi(spec.model_path, settings)
        return OpenVinoGenAi(spec.model_path, settings)
    except (RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{spec.path}: {spec.backend} could not open it ({first[:300]})") from None
