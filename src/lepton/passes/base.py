"""The Pass contract: declared ``Params``, ``check`` says why not, ``build`` writes the child."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import onnx

from lepton.errors import LeptonError, NotApplicable, PassError, one_line
from lepton.hardware import Hardware
from lepton.ir.artifact import MODEL_FILE, Artifact
from lepton.passes.params import PassParams, validate_params
from lepton.registry import Registry
from lepton.store.store import Store

Feeds = dict[str, np.ndarray]
# ``Pass.build_memory`` per kind of pass: peak RSS of the build over the process's RSS before it, / the parent's
# size on disk, measured on MiniLM (90 MB of weights), each pass alone in a fresh process (so the libraries it
# imports count too): transformer fusion 648 MB, dynamic int8 417, NNCF 718, static QDQ 881 with its calibration
# (~430 of it one batch of 8 rows' activations); rounded up.
BUILD_MEMORY = {"fusion": 7.5, "graph": 7.5, "quantize-dynamic": 5.0, "quantize-static": 5.0, "nncf": 8.5}
P = TypeVar("P", bound=PassParams)


@dataclass(frozen=True)
class Proposal:
    """A variant of a pass that the navigator tries by default, declared on the pass class.

    ``after`` says where it goes in a chain: ``"model"`` applies it to the model as it is, ``"graph"`` after the
    graph pass proposed for this model (fusion for transformers, ONNX Runtime's graph optimization otherwise).
    ``rank`` orders the candidates (lower first: the recipes that usually pay).
    """

    params: Mapping[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ("model",)
    rank: int = 50
    unlikely: Mapping[str, str] = field(default_factory=dict)  # model family -> why it rarely pays there (a prior)


@dataclass
class PassContext:
    """What a pass may use besides the artifact: where to write, the machine, data.

    ``calibration`` is a list of feed dicts (one batch each); None lets a pass synthesize inputs from the
    signature. ``train_feeds``/``train_targets`` enable fine-tuning where a pass supports it (targets
    absent: the pass distils from the unpruned model's outputs). ``labels`` (one array per calibration
    batch) let a quality-controlled pass judge task accuracy instead of fidelity to the float model.
    """

    store: Store
    hardware: Hardware
    calibration: list[Feeds] | None = None
    train_feeds: list[Feeds] | None = None
    train_targets: list[np.ndarray] | None = None
    seed: int = 0
    labels: list[np.ndarray] | None = None

    def feeds(self, artifact: Artifact, batches: int = 4, batch: int = 8, sequence: int = 32) -> list[Feeds]:
        """The calibration feeds, or ``batches`` synthesized ones when none were given; a model with a fixed
        batch (``image [1, 3, 800, 608]``) gets them re-cut into batches of that size, as it takes them."""
        if self.calibration:
            feeds = list(self.calibration)
        else:
            feeds = synthesize_feeds(artifact, batches=batches, batch=batch, sequence=sequence, seed=self.seed)
        size = artifact.signature.fixed_batch()
        out: list[Feeds] = []
        for f in feeds:
            rows = _rows(f)  # inputs whose dim 0 is something else (a scalar, a state) stay whole
            out += [
                {k: v[cut] if v.ndim and v.shape[0] == rows else v for k, v in f.items()} for cut in _cuts(rows, size)
            ]
        return out

    def labels_for(self, artifact: Artifact) -> list[np.ndarray] | None:
        """The labels of ``feeds(artifact)``, batch for batch; None unless each calibration batch has its own."""
        if self.labels is None or not self.calibration or len(self.labels) != len(self.calibration):
            return None
        size = artifact.signature.fixed_batch()
        return [lab[cut] for f, lab in zip(self.calibration, self.labels, strict=True) for cut in _cuts(_rows(f), size)]

    def calibration_key(self) -> str:
        """A short fingerprint of the calibration data, so cached variants do not mix data sets."""
        if not self.calibration:
            return f"synthetic-{self.seed}"
        h = hashlib.sha256()
        for feeds in self.calibration:
            for name in sorted(feeds):
                arr = np.ascontiguousarray(feeds[name])
                h.update(name.encode() + str(arr.shape).encode() + arr.tobytes())
        return h.hexdigest()[:12]


def _rows(feeds: Feeds) -> int:
    return max((v.shape[0] for v in feeds.values() if v.ndim), default=0)


def _cuts(rows: int, size: int | None) -> list[slice]:
    """Slices of ``rows`` rows in batches of ``size`` (the whole batch when it has no more rows than that; a
    short tail is left out, since the model takes exactly ``size``)."""
    if not size or rows <= size:
        return [slice(None)]
    return [slice(i, i + size) for i in range(0, rows - size + 1, size)]


def synthesize_feeds(
    artifact: Artifact, *, batches: int = 4, batch: int = 8, sequence: int = 32, seed: int = 0
) -> list[Feeds]:
    """``batches`` batches of inputs synthesized from the signature and graph (``ir.synthesis``): valid token
    ids, masks of ones, floats ~N(0,1); open dims other than the batch get ``sequence``."""
    from lepton.ir.synthesis import synthesize_artifact

    made = synthesize_artifact(artifact, rows=batches * batch, seed=seed, sequence=sequence, fill_unknown=sequence)
    return made.batches(batch, batches)


class Pass(ABC, Generic[P]):
    """Base of every pass: declared ``Params`` (validated once, when the pass is made), ``check``, ``build``.

    ``__init__`` only stores the validated params; the runner (``lepton.passes.runner``) applies a pass: it
    expands what the pass needs first, looks the cache up, builds, validates, commits and tries a fallback.
    ``accepts`` names the artifact formats a pass reads and ``produces`` the one it writes ("onnx", or
    "openvino" for OpenVINO IR), so a chain can be checked before anything runs.
    """

    name: ClassVar[str]
    Params: ClassVar[type[PassParams]] = PassParams
    family: ClassVar[str] = "graph"
    needs: ClassVar[frozenset[str]] = frozenset({"cpu"})
    # What the navigator searches: the variants tried by default (none: only when a user asks for the pass),
    # on which model families (empty: any; see ``lepton.ir.family``), and whether the pass can keep named
    # nodes in float (``nodes_to_exclude``), which the sensitivity stage needs.
    proposals: ClassVar[tuple[Proposal, ...]] = ()
    model_families: ClassVar[frozenset[str]] = frozenset()
    keeps_nodes_in_float: ClassVar[bool] = False
    calibrates: ClassVar[bool] = False  # runs the model on calibration batches (memory: one batch's activations)
    # Peak memory of a build over what the process held before, as a multiple of the parent model's size on disk
    # (see ``BUILD_MEMORY``); calibration comes on top. None: not estimated, so a memory bound never skips it.
    build_memory: ClassVar[float | None] = None
    # A registered pass that builds the same kind of variant under a quality bound (its Params extend this
    # pass's with ``max_drop`` and ``drop_type``), tried when a variant of this pass is faster but misses the
    # quality target.
    recovered_by: ClassVar[str | None] = None
    accepts: ClassVar[frozenset[str]] = frozenset({"onnx"})
    produces: ClassVar[str] = "onnx"

    params: P

    def __init__(self, **params: Any) -> None:
        name = getattr(self, "name", type(self).__name__)  # a class not registered yet has no name
        self.params = cast(P, validate_params(name, self.Params, params))

    # Whether the variant's outputs for a row depend on the other rows of its batch (activations quantized per
    # call, as dynamic int8 does): the navigator then measures its fidelity in mixed batches as well.
    batch_dependent: ClassVar[bool] = False

    @classmethod
    def worth_trying(cls, family: str) -> bool:
        """Whether the navigator proposes this pass on a model of ``family``."""
        return bool(cls.proposals) and (not cls.model_families or family in cls.model_families)

    def title(self) -> str:
        """A short human name for this pass with its main params (override per pass)."""
        return self.name

    def label(self) -> str:
        """``title()`` plus how many nodes stay in float (the full params stay in the trial's chain)."""
        keep = self.params.to_json().get("nodes_to_exclude") or []
        if not keep:
            return self.title()
        return f"{self.title()} ({len(keep)} node{'s' if len(keep) != 1 else ''} kept fp32)"

    def excluding(self, nodes: Sequence[str]) -> Pass[P]:
        """The same pass keeping ``nodes`` in float (only for passes that declare ``keeps_nodes_in_float``)."""
        if not self.keeps_nodes_in_float:
            raise NotApplicable(f"{self.name} cannot keep nodes in float")
        return type(self)(**{**self.params.model_dump(), "nodes_to_exclude": tuple(nodes)})

    def bounded(self, max_drop: float, drop_type: str) -> Pass[Any]:
        """This pass's quality-bounded twin (``recovered_by``) with this pass's params and the bound."""
        if self.recovered_by is None:
            raise NotApplicable(f"{self.name} has no quality-bounded twin")
        twin = PASSES.get(self.recovered_by)
        same = {k: v for k, v in self.params.model_dump().items() if k in twin.Params.model_fields}
        return twin(**same, max_drop=max_drop, drop_type=drop_type)

    def cache_params(self, artifact: Artifact, ctx: PassContext) -> dict[str, Any]:
        """The params recorded in the lineage (the cache key with the parent id and the pass name); passes that
        depend on context data add a fingerprint of it."""
        return self.params.to_json()

    def check(self, artifact: Artifact, hw: Hardware) -> str | None:
        """Why this pass does not apply to ``artifact`` on ``hw``, or None when it does (params are valid
        already: ``Params`` checked them when the pass was made)."""
        wrong_format = self.format_check(artifact)
        if wrong_format:
            return wrong_format
        missing = self.needs - hw.capabilities()
        if missing:
            return f"needs {', '.join(sorted(missing))}, which this machine lacks ({hw.summary()})"
        return None

    def min_opset(self, artifact: Artifact) -> int:
        """The default-domain opset this pass needs the model at (0: any); the runner converts older models
        first with a cached ``convert-opset`` step, so the result's parent is the converted model."""
        return 0

    def fallback(self, error: PassError) -> Fallback | None:
        """The pass to build instead when this one fails with ``error`` (None: the failure stands)."""
        return None

    def format_check(self, artifact: Artifact) -> str | None:
        """Why this pass cannot read ``artifact``'s format, or None when it can."""
        if artifact.format in self.accepts:
            return None
        return (
            f"the model is {artifact.format} ({artifact.model_path.name}) and this pass reads only "
            f"{' or '.join(sorted(self.accepts))}; run it before any pass that writes {artifact.format}"
        )

    @abstractmethod
    def build(self, artifact: Artifact, ctx: PassContext, work: Path) -> None:
        """Write the transformed model into ``work``: ``model.onnx`` (and any external data), or
        ``model.xml`` + ``model.bin`` for a pass that produces OpenVINO IR."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.to_json().items())
        return f"{self.name}({args})"


@dataclass(frozen=True)
class Fallback:
    """What a pass builds instead when it fails: ``stand_in``, with ``note`` (why) recorded in the lineage."""

    stand_in: Pass[Any]
    note: str


PASSES: Registry[Pass[Any]] = Registry("pass", "lepton.passes")


def load_model(artifact: Artifact) -> onnx.ModelProto:
    return onnx.load(str(artifact.model_path))


def save_model(model: onnx.ModelProto, work: Path, filename: str = MODEL_FILE) -> None:
    """Save as ``model.onnx`` (or ``filename``); models over 1.8 GB keep weights in external ``<filename>.data``."""
    have = {o.domain for o in model.opset_import}
    for domain in sorted({n.domain for n in model.graph.node} - have - {"", "ai.onnx"}):
        model.opset_import.append(onnx.helper.make_opsetid(domain, 1))  # e.g. com.microsoft after fusion
    large = model.ByteSize() > 1_800_000_000
    onnx.save_model(
        model,
        str(work / filename),
        save_as_external_data=large,
        all_tensors_to_one_file=True,
        location=filename + ".data",
    )


def count_ops(model: onnx.ModelProto, ops: Sequence[str]) -> int:
    return sum(1 for n in model.graph.node if n.op_type in ops)


@contextmanager
def guarded(pass_name: str, what: str) -> Iterator[None]:
    """Map a crash in third-party tooling to PassError with its cause."""
    try:
        yield
    except LeptonError:
        raise
    except Exception as e:
        raise PassError(f"{pass_name}: {what} failed: {type(e).__name__}: {one_line(e)}") from e


def create(name: str, **params: Any) -> Pass[Any]:
    """Build a registered pass by name: ``create("quantize-dynamic", per_channel=True)``; a bad name or param
    is a UserError."""
    return PASSES.get(name)(**params)


def check_step(name: str, params: Mapping[str, Any]) -> None:
    """A recorded chain step names a registered pass and params its ``Params`` take; else a UserError of one line
    (what a trial's ``ChainStep`` is checked with when it is read)."""
    validate_params(name, PASSES.get(name).Params, params)


def describe(passes: Sequence[Pass[Any]]) -> str:
    """A one-line label for a chain: ``fuse-transformer > quantize-dynamic(per_channel=True)``."""
    return " > ".join(repr(p) for p in passes) or "baseline"
