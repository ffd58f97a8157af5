"""The Engine/Session contract and the runtime settings that are part of the search space."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from lepton.engines.profile import Feeds, OpProfile
from lepton.errors import EngineError, EngineUnavailable, UserError
from lepton.hardware import Hardware, default_threads, searched_threads
from lepton.ir.artifact import Artifact
from lepton.registry import Registry

GRAPH_LEVELS = ("disable", "basic", "extended", "all")
EXECUTION_MODES = ("sequential", "parallel")
EngineSettings = dict[str, str | int | float | bool]  # what a session reports it really uses (OpenVINO: streams)


@dataclass(frozen=True)
class RuntimeConfig:
    """How a Session runs: threads, graph optimization level, execution mode, provider, batch size.

    ``intra_op_threads=0`` leaves the count to the thread policy (``lepton.hardware.default_threads``: one per
    physical core this process may use, within its affinity mask and cgroup quota).
    ``options`` holds engine-specific settings as strings (OpenVINO: ``hint``, ``streams``, ``precision``);
    each engine declares the ones it takes in ``Engine.options`` and refuses others when it opens a model.
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    graph_level: str = "all"
    execution_mode: str = "sequential"
    provider: str | None = None  # None: the best the machine has
    batch_size: int = 1
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.options, Mapping):
            raise UserError(f"runtime options must be a mapping of name -> value; got {self.options!r}")
        for k, v in self.options.items():
            if not isinstance(k, str) or not isinstance(v, (str, int)) or isinstance(v, bool):
                raise UserError(f"runtime option {k!r}={v!r}: names are strings and values strings or integers")
        object.__setattr__(self, "options", {k: str(v) for k, v in sorted(self.options.items())})
        if self.graph_level not in GRAPH_LEVELS:
            raise UserError(f"graph level {self.graph_level!r} is not one of {', '.join(GRAPH_LEVELS)}")
        if self.execution_mode not in EXECUTION_MODES:
            raise UserError(f"execution mode {self.execution_mode!r} is not one of {', '.join(EXECUTION_MODES)}")
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise UserError("thread counts must be >= 0 (0: one per core this process may use)")
        if self.batch_size < 1:
            raise UserError(f"batch size must be >= 1; got {self.batch_size}")

    def __hash__(self) -> int:  # options is a dict: hash its items
        return hash((*(getattr(self, f) for f in self.__dataclass_fields__ if f != "options"), *self.options.items()))

    def option(self, name: str, default: str = "") -> str:
        return self.options.get(name, default)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RuntimeConfig:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in fields})


class Session(Protocol):
    """An opened model: ``run`` maps named numpy inputs to named numpy outputs."""

    engine: str
    input_names: list[str]
    output_names: list[str]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


class Engine(ABC):
    """Base of engines; subclasses register with ``@ENGINES.register("name")``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    searched: ClassVar[bool] = True  # the navigator measures settings on it (False: a baseline only)
    served: ClassVar[bool] = True  # lepton serve runs it (False: a deployment runs the same model on onnxruntime)
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})  # the artifact formats it opens
    options: ClassVar[Mapping[str, str]] = {}  # the RuntimeConfig.options it takes -> what values they take

    def unavailable(self, artifact: Artifact | None = None) -> str | None:
        """Why this engine cannot run (here, or this artifact); None when it can."""
        if artifact is not None and artifact.format not in self.formats:
            return (
                f"the artifact is {artifact.format} ({artifact.model_path.name}) and {self.name} opens only "
                f"{' or '.join(sorted(self.formats))}"
                + ("; use --engine openvino" if artifact.format == "openvino" else "")
            )
        return None

    def option_choices(self, hw: Hardware) -> dict[str, tuple[str, ...]]:
        """The values of each engine option worth measuring on ``hw`` (the search space's engine settings)."""
        return {}

    @abstractmethod
    def open(self, artifact: Artifact, config: RuntimeConfig) -> Session:
        """Load ``artifact`` for running with ``config``."""

    def profile(
        self, artifact: Artifact, config: RuntimeConfig, feeds: Feeds, *, runs: int = 10, warmup: int = 2
    ) -> OpProfile:
        """Run ``feeds`` ``runs`` times (after ``warmup``) under this engine's own profiler: each node's time."""
        raise EngineError(f"engine {self.name!r} has no profiler")

    def unlikely(self, artifact: Artifact) -> str | None:
        """A prior: why this engine rarely pays on ``artifact`` although it can run it (the navigator skips the
        pair and says so, unless ``--exhaustive``); None when it may pay."""
        return None

    def runtime_options(self, hw: Hardware, batch_sizes: Sequence[int]) -> list[RuntimeConfig]:
        """The runtime settings worth measuring on ``hw``: all cores for one stream, and one thread per caller
        under load (a server runs one single-threaded session per core side by side), at every batch size."""
        threads = searched_threads(hw)
        return [RuntimeConfig(intra_op_threads=t, batch_size=b) for t in threads for b in batch_sizes]

    def costly(self, config: RuntimeConfig) -> str | None:
        """A prior on a setting: why it costs far more to open than it usually repays (the navigator leaves it to
        ``--exhaustive`` and says so); None for most."""
        return None

    def not_offered(self, hw: Hardware) -> list[str]:
        """The settings ``runtime_options`` leaves out on ``hw`` because they cannot run or pay there, each with
        why (said in the run's notes)."""
        return []

    def batch_dependent(self, config: RuntimeConfig) -> bool:
        """Whether a row's output under ``config`` depends on the other rows of its batch (activations quantized
        per call, as dynamic int8 does): its fidelity is then measured in mixed batches too."""
        return False

    def threads_used(self, config: RuntimeConfig) -> int:
        """The intra-op thread count a session with ``config`` actually uses."""
        return config.intra_op_threads or default_threads()


ENGINES: Registry[Engine] = Registry("engine", "lepton.engines")


def open_session(engine: str, artifact: Artifact, config: RuntimeConfig | None = None) -> Session:
    """Open ``artifact`` under the named engine, with a clear error when it cannot run here."""
    eng = ENGINES.get(engine)()
    why = eng.unavailable(artifact)
    if why:
        raise EngineUnavailable(f"engine {engine!r} cannot run here: {why}")
    return eng.open(artifact, config or RuntimeConfig())


def runnable_engines(artifact: Artifact) -> list[str]:
    """Every registered engine that can run ``artifact`` on this machine."""
    return [name for name, cls in ENGINES if cls().unavailable(artifact) is None]
