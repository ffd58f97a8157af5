"""PyTorch on the source module: fp32 eager is the baseline a user would otherwise deploy; the one-line variants a
PyTorch user tries first are candidates beside the optimized variants.

The one-liners (``RuntimeConfig.options``): ``precision=bf16`` runs under ``torch.autocast("cpu", bfloat16)``
(offered where the CPU has native bf16), ``precision=int8`` is ``torch.ao.quantization.quantize_dynamic`` on the
Linear layers (weights int8 ahead of time, activations quantized per call: a row's output depends on its
batch-mates), ``compile=inductor`` is ``torch.compile`` (offered where a C++ compiler is found: inductor builds its
CPU kernels with it; a compile that fails is a failed candidate). bf16 and int8 change the outputs: their quality is
measured like any variant's.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lepton.engines.base import ENGINES, Engine, RuntimeConfig
from lepton.engines.profile import Feeds, OpProfile
from lepton.errors import EngineError, UserError, first_line
from lepton.hardware import default_threads
from lepton.ir.artifact import Artifact
from lepton.ir.source import HfSource

if TYPE_CHECKING:
    from lepton.hardware import Hardware

PRECISIONS = ("f32", "bf16", "int8")
COMPILERS = ("off", "inductor")
_ONE_LINERS = {("compile", "inductor"): "torch.compile", ("precision", "bf16"): "bf16 autocast"}
_ONE_LINERS[("precision", "int8")] = "int8 quantize_dynamic"
_PREPARED_KEEP = 2  # prepared modules (quantized, compiled) kept for reuse: one variant's sessions share one


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: the thread policy's default), then put back the
    count the calling thread had: ``torch.set_num_threads`` is process-wide, and a session or a training run
    must not leave its count behind for every other torch user. Also a decorator (``@torch_threads()``)."""
    import torch

    want = n or default_threads()
    before = torch.get_num_threads()
    if want != before:
        torch.set_num_threads(want)
    try:
        yield
    finally:
        if want != before:
            torch.set_num_threads(before)


def torch_source(artifact: Artifact) -> Any | None:
    """The PyTorch module an artifact was made from, rebuilt from its recorded source when possible."""
    if artifact.torch_module is not None:
        return artifact.torch_module
    source = artifact.source
    if isinstance(source, HfSource) and source.path and artifact.lineage.pass_name is None:
        from lepton.ir.hf import load_torch_encoder

        return load_torch_encoder(source.path)
    return None


_CODE = {
    ("compile", "inductor"): "`model = torch.compile(model)`",
    ("precision", "bf16"): 'call the model inside `with torch.autocast("cpu", dtype=torch.bfloat16):`',
    ("precision", "int8"): "`model = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)` (torch.ao.quantization)",
}


def one_liner_code(options: Mapping[str, str]) -> str:
    """What to write in a PyTorch deployment to run it with these options."""
    return "; ".join(_CODE[item] for item in sorted(options.items()) if item in _CODE)


def one_liner(options: Mapping[str, str]) -> str:
    """What a PyTorch user writes for these options (``bf16 autocast``); empty for fp32 eager."""
    return " + ".join(_ONE_LINERS[item] for item in sorted(options.items()) if item in _ONE_LINERS)


def torch_options(config: RuntimeConfig) -> tuple[str, str]:
    """``(precision, compile)`` from ``config.options``; an unknown option or value is a UserError."""
    unknown = sorted(set(config.options) - set(TorchEagerEngine.options))
    if unknown:
        raise UserError(f"torch: unknown runtime option {unknown[0]!r}; it takes {', '.join(TorchEagerEngine.options)}")
    precision = config.option("precision", "f32").lower()
    compiler = config.option("compile", "off").lower()
    if precision not in PRECISIONS:
        raise UserError(f"torch: precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if compiler not in COMPILERS:
        raise UserError(f"torch: compile {compiler!r} is not one of {', '.join(COMPILERS)}")
    return precision, compiler


@functools.cache
def compiler_missing() -> str | None:
    """Why ``torch.compile`` cannot build CPU kernels here (inductor needs a C++ compiler); None when it can."""
    from torch._inductor import config

    names = config.cpp.cxx if isinstance(config.cpp.cxx, (list, tuple)) else (config.cpp.cxx,)
    if any(name and shutil.which(name) for name in names):
        return None
    return f"torch.compile needs a C++ compiler for its CPU kernels ({' or '.join(n for n in names if n)}); none found"


_prepared: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def prepared_module(artifact: Artifact, precision: str, compiler: str) -> Any | None:
    """The source module as the options run it: quantized (a copy) and/or compiled (None without a source). A
    prepared module is kept for the next session of the same variant (compiling costs seconds; the quality run
    and each timing share it)."""
    if precision != "int8" and compiler == "off":
        module = torch_source(artifact)
        return None if module is None else module.eval()
    key = (artifact.id, id(artifact.torch_module), precision, compiler)
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    import torch

    module = torch_source(artifact)
    if module is None:
        return None
    module = module.eval()
    if precision == "int8":
        with warnings.catch_warnings():  # torch.ao.quantization says it moves to torchao; it still runs here
            warnings.simplefilter("ignore")
            module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
    if compiler == "inductor":
        why = compiler_missing()
        if why:
            raise EngineError(why)
        module = torch.compile(module)
    _prepared[key] = module
    while len(_prepared) > _PREPARED_KEEP:
        _prepared.popitem(last=False)
    return module


def _compile_error(e: BaseException) -> bool:
    return type(e).__module__.startswith(("torch._dynamo", "torch._inductor"))


class TorchSession:
    engine = "torch"

    def __init__(self, module: Any, artifact: Artifact, config: RuntimeConfig) -> None:
        import torch

        self._torch = torch
        self.precision, self.compiler = torch_options(config)
        self.threads = config.intra_op_threads or default_threads()  # set around each run, never left behind
        self.module = module
        self.input_names = artifact.signature.input_names
        self.output_names = artifact.signature.output_names
        self.settings = {"precision": self.precision, "compile": self.compiler, "threads": self.threads}

    @contextlib.contextmanager
    def _mode(self) -> Iterator[None]:
        torch = self._torch
        with torch_threads(self.threads), torch.inference_mode():
            if self.precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    yield
            else:
                yield

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        try:
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_names]
        except KeyError as e:
            raise EngineError(f"missing input {e.args[0]!r}; the model needs {', '.join(self.input_names)}") from None
        try:
            with self._mode():
                out = self.module(*args)
        except Exception as e:
            if self.compiler != "off" and _compile_error(e):
                raise EngineError(f"torch.compile ({self.compiler}) failed here: {first_line(e)}") from e
            if isinstance(e, (RuntimeError, TypeError, ValueError, IndexError)):  # a wrong dtype or shape
                raise EngineError(f"PyTorch could not run the inputs given ({first_line(e)})") from e
            raise
        if isinstance(out, Mapping):
            out = tuple(out.values())
        if not isinstance(out, (tuple, list)):
            out = (out,)
        return {n: _numpy(t) for n, t in zip(self.output_names, out, strict=False)}

    def close(self) -> None:
        self.module = None


def _numpy(t: Any) -> np.ndarray:
    """A tensor as numpy; bf16/fp16 (autocast's outputs) as float32, which numpy holds."""
    import torch

    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return np.asarray(t.numpy())


@ENGINES.register("torch")
class TorchEagerEngine(Engine):
    description = (
        "PyTorch on the source module: fp32 eager (the baseline without Lepton), and the one-liners a PyTorch "
        "user tries first (bf16 autocast, int8 quantize_dynamic, torch.compile)"
    )
    served = False  # lepton serve opens model files only: a deployment runs the same model on ONNX Runtime
    options: ClassVar[Mapping[str, str]] = {
        "precision": "f32 (the default) | bf16 (torch.autocast) | int8 (quantize_dynamic on Linear layers)",
        "compile": "off (the default) | inductor (torch.compile; needs a C++ compiler)",
    }

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "PyTorch is not installed; pip install torch==2.13.0"
        if artifact is not None and torch_source(artifact) is None:
            return (
                "this model has no PyTorch source (it came from ONNX or scikit-learn, or it is an optimized "
                "variant); use --engine onnxruntime"
            )
        return None

    def one_liners(self, hw: Hardware) -> list[dict[str, str]]:
        """The variants measured beside the fp32 eager baseline: bf16 autocast where the CPU has native bf16,
        int8 quantize_dynamic, and torch.compile where a C++ compiler is found."""
        out = [{"precision": "bf16"}] if hw.bf16_native else []
        out.append({"precision": "int8"})
        return out + ([{"compile": "inductor"}] if compiler_missing() is None else [])

    def not_offered(self, hw: Hardware) -> list[str]:
        out = [] if hw.bf16_native else ["bf16 autocast: this CPU has no native bf16 (AVX512-BF16 or AMX)"]
        missing = compiler_missing()
        return out + ([missing] if missing else [])

    def runtime_options(self, hw: Hardware, batch_sizes: Sequence[int]) -> list[RuntimeConfig]:
        """The one-liners with all cores at every batch size (fp32 eager itself is the baseline, measured apart;
        inductor fixes its thread count when it compiles)."""
        return [
            RuntimeConfig(intra_op_threads=hw.physical_cores, batch_size=b, options=options)
            for options in self.one_liners(hw)
            for b in batch_sizes
        ]

    def option_choices(self, hw: Hardware) -> dict[str, tuple[str, ...]]:
        precisions = ("f32", "bf16", "int8") if hw.bf16_native else ("f32", "int8")
        return {"precision": precisions, "compile": COMPILERS if compiler_missing() is None else ("off",)}

    def costly(self, config: RuntimeConfig) -> str | None:
        if config.option("compile", "off") == "off":
            return None
        return "torch.compile compiles again for each batch size (10-16 s each on MiniLM here), more than a screen"

    def batch_dependent(self, config: RuntimeConfig) -> bool:
        """quantize_dynamic quantizes activations per call, over the whole batch."""
        return config.option("precision") == "int8"

    def threads_used(self, config: RuntimeConfig) -> int:
        return config.intra_op_threads or default_threads()

    def open(self, artifact: Artifact, config: RuntimeConfig) -> TorchSession:
        precision, compiler = torch_options(config)
        module = prepared_module(artifact, precision, compiler)
        if module is None:
            raise EngineError(self.unavailable(artifact) or "no PyTorch source")
        return TorchSession(module, artifact, config)

    def profile(
        self, artifact: Artifact, config: RuntimeConfig, feeds: Feeds, *, runs: int = 10, warmup: int = 2
    ) -> OpProfile:
        from lepton.engines.torch_profile import profile_torch

        return profile_torch(artifact, config, feeds, runs, warmup)
