"""The search space: candidate pass chains (checked against this model and machine) x runtime settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lepton.cost.hardware import Hardware
from lepton.engines.base import RuntimeConfig
from lepton.ir.artifact import Artifact
from lepton.passes import Pass, describe


@dataclass
class Candidate:
    """One pass chain; ``parent`` is the label of the chain it extends (for slower-than-parent notes)."""

    label: str
    passes: list[Pass]
    parent: str | None = None
    skip_reason: str | None = None  # set when a pass in the chain does not apply here
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def chain(self) -> list[dict[str, Any]]:
        return [{"pass": p.name, "params": p.params()} for p in self.passes]


def candidates(artifact: Artifact, hw: Hardware) -> list[Candidate]:
    """Every chain the library proposes for this model, with ``skip_reason`` when it cannot apply here."""
    from lepton.passes.defaults import candidate_chains

    out = [Candidate("onnxruntime fp32", [], None)]
    labels = {"": "onnxruntime fp32"}
    for passes in candidate_chains(artifact, hw):
        label = describe(passes)
        parent = labels.get(describe(passes[:-1]) if len(passes) > 1 else "", "onnxruntime fp32")
        why = next((f"{p.name}: {w}" for p in passes if (w := p.check(artifact, hw))), None)
        labels[label] = label
        out.append(Candidate(label, list(passes), parent, why))
    return out


def runtime_options(hw: Hardware, batch_sizes: list[int]) -> list[RuntimeConfig]:
    """Thread settings x batch sizes: all cores for one stream, and one thread per caller under load."""
    threads = sorted({hw.physical_cores, 1}, reverse=True)
    return [RuntimeConfig(intra_op_threads=t, batch_size=b) for t in threads for b in batch_sizes]
