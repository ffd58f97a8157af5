"""The navigator's contract: ``OptimizeResult``, what ``lepton optimize`` prints, writes as JSON and reports.

Field names are the published ``--json`` names (``docs/schema/optimize.json``); the terminal summary, the JSON and
the HTML report all read these objects, so every figure they show is the same.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, computed_field

from lepton.contract import Contract, JsonForm
from lepton.cost.catalog import PricePoint
from lepton.hardware import Hardware
from lepton.ir.artifact import ArtifactSummary
from lepton.measure.interference import Disturbance
from lepton.measure.trial import ChainStep
from lepton.navigate.judged import JudgedTrial
from lepton.navigate.targets import Targets

Verdict = Literal["recommend", "keep", "no-fit"]

HardwareField = Annotated[Hardware, JsonForm(Hardware)]
TargetsField = Annotated[Targets, JsonForm(Targets)]


class Ratio(Contract):
    """A gain as a ratio (above 1 is better) with its 95% confidence interval."""

    x: float
    low: float
    high: float

    @property
    def beyond_noise(self) -> bool:
        """Better than the other side even at the interval's low end, by at least ``MIN_GAIN``."""
        from lepton.navigate.gains import MIN_GAIN

        return self.low > 1.0 and self.x >= MIN_GAIN

    @property
    def text(self) -> str:
        return f"{self.x:.2f}x [{self.low:.2f}-{self.high:.2f}]"


class Gain(Contract):
    """The recommended variant against the baseline at one batch size (ratios above 1 are gains)."""

    batch_size: int
    trial: str  # the recommended variant's trial quoted at this batch size
    baseline_trial: str
    threads: int | None = None
    throughput_x: float  # loaded: capacity with concurrent callers, as a server runs it
    single_stream_throughput_x: float
    p50_x: float  # baseline p50 over the variant's: times lower
    cost_x: float  # baseline $/1M over the variant's: times cheaper
    ci95: dict[str, tuple[float, float]] = Field(default_factory=dict)  # per ratio above
    ttft_x: float | None = None  # a causal LM: baseline time to first token over the variant's (shortest prompt)
    pairs: int = 0  # alternating block pairs the ratios are medians of (0: two measurements one after the other)
    disturbed: Disturbance | None = None  # other processes took CPU during the comparison: not quoted as fact

    def ratio(self, name: str) -> Ratio:
        x = float(getattr(self, name))
        low, high = self.ci95.get(name, (x, x))
        return Ratio(x=x, low=low, high=high)


class ClosestMiss(Contract):
    """When nothing meets the targets: the nearest miss on each broken target and what relaxing it gives."""

    text: str
    relaxed: TargetsField | None = None  # the targets that would be met
    would_recommend: str | None = None


class Skipped(Contract):
    """A chain the library proposed that cannot apply to this model or machine."""

    variant: str
    chain: tuple[ChainStep, ...] = ()
    reason: str


class SearchSummary(Contract):
    """How the space was searched: its size, the measurements at each rung, and the time it took."""

    strategy: str  # halving | exhaustive | optuna
    candidates: int  # settings in the space: variants x engines x runtime settings
    measured: int  # measurements, the baseline's left out
    precise: int
    seconds: float
    screened: int = 0  # rung 0: short screens
    quick: int = 0  # rung 1: quick measurements
    time_budget: float | None = None
    unmeasured: int = 0  # settings the time budget left unscreened
    reused: int = 0  # measurements a resumed run took over from before its interruption
    stages: dict[str, float] = Field(default_factory=dict)  # seconds per stage: baseline, build, screen, ...


class MemoryInfo(Contract):
    """What the search held in memory: peak RSS of this process per stage and per variant built, the bound it
    kept under (``--max-memory``, or a stated share of the machine's) and what that bound changed."""

    peak_rss_mb: float  # the whole search
    stages: dict[str, float] = Field(default_factory=dict)  # stage -> peak RSS (MB)
    passes: dict[str, float] = Field(default_factory=dict)  # variant built -> peak RSS while its passes ran (MB)
    limit_mb: float  # the bound
    limit_source: str  # "--max-memory" or "60% of 25.3 GB (the machine's memory)"
    calibration_rows: int  # rows passes calibrate on
    calibration_batch: int | None = None  # rows per calibration batch (one batch's activations are held at a time)
    calibration_estimate_mb: float | None = None  # estimated memory of one calibration batch (None: unknown)
    action: str | None = None  # what the bound did: calibration batches cut, or calibrating passes skipped, and why


class HardwareKind(Contract):
    """A kind of machine of a cluster the run measured on: what it is, what an hour of it costs, its nodes."""

    name: str
    hardware: HardwareField
    price: PricePoint
    nodes: int = 1


class NodeLoss(Contract):
    node: str
    loss: float


class SensitivityInfo(Contract):
    """What the sensitivity stage did: why it ran, the ranking, and the nodes kept in float."""

    why: str | None = None
    quant: dict[str, JsonValue] | None = None  # the quantization pass's params
    target: float | None = None
    seconds: float | None = None
    reached: bool | None = None
    kept_float: tuple[str, ...] = ()
    tried: dict[str, float] = Field(default_factory=dict)
    ranking: tuple[NodeLoss, ...] = ()
    error: str | None = None


class OptimizeResult(Contract):
    """One optimize run: every trial, the frontier, the recommendation with its reason and gains.

    ``hardware`` and ``price`` are the machine the run ran on; a run on a cluster also lists its ``kinds`` (each
    trial says which it was measured on, and is priced at that kind's price)."""

    run_id: str
    created: float
    model: ArtifactSummary
    hardware: HardwareField
    price: PricePoint
    targets: TargetsField
    workload: str
    inputs: dict[str, str] = Field(default_factory=dict)  # where synthesized inputs' values came from, per input
    reference: str
    trials: tuple[JudgedTrial, ...]
    frontier: tuple[str, ...] = ()
    recommended: str | None = None
    verdict: Verdict = "no-fit"
    reason: str = ""
    closest_miss: ClosestMiss | None = None
    gains: tuple[Gain, ...] = ()
    vs_torch_best: Gain | None = None  # the recommendation against the best PyTorch one-liner at its batch size
    best_by_engine: dict[str, str] = Field(default_factory=dict)  # engine (with options) -> its best trial's id
    best_by_hardware: dict[str, str] = Field(default_factory=dict)  # cluster hardware kind -> its best trial's id
    kinds: tuple[HardwareKind, ...] = ()  # the kinds of machine of a cluster run (empty: this machine alone)
    notes: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    search: SearchSummary
    sensitivity: SensitivityInfo | None = None
    memory: MemoryInfo | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def baseline(self) -> list[JudgedTrial]:
        """What the user would deploy without Lepton, its latest measurement at every batch size (also among
        ``trials``, with the screens the verification replaced)."""
        current = [t for t in self.trials if t.is_baseline and t.superseded_by is None]
        measured = {(t.batch_size, t.hardware_kind) for t in current if t.measured}
        latest = [t for t in current if t.measured or (t.batch_size, t.hardware_kind) not in measured]
        return sorted(latest, key=lambda t: (t.hardware_kind or "", t.batch_size))

    @property
    def exit_code(self) -> int:
        """0 with a recommendation (a variant, or keeping the baseline), 3 when nothing meets the targets."""
        return 0 if self.recommended else 3

    def trial(self, trial_id: str) -> JudgedTrial:
        for t in self.trials:
            if t.id == trial_id:
                return t
        raise KeyError(f"no trial {trial_id!r} in run {self.run_id}")

    @property
    def recommended_trial(self) -> JudgedTrial | None:
        return self.trial(self.recommended) if self.recommended else None

    @property
    def frontier_trials(self) -> list[JudgedTrial]:
        ids = set(self.frontier)
        return [t for t in self.trials if t.id in ids]

    @property
    def current(self) -> list[JudgedTrial]:
        """The latest measurement of every configuration (a precise one supersedes its quick screen)."""
        return [t for t in self.trials if t.superseded_by is None]

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The published JSON Schema of ``lepton optimize --json`` (``lepton schema optimize``)."""
        schema = cls.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = "lepton optimize --json"
        return schema
