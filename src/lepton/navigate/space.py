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


BASE_LABEL = "ort fp32"


def pass_label(p: Pass) -> str:
    """A short human name for one pass with its params (the full params stay in the trial's chain)."""
    a = p.params()
    if p.name == "fuse-transformer":
        return "fusion"
    if p.name == "optimize-graph":
        return "graph-opt"
    if p.name == "quantize-dynamic":
        out = "int8 dynamic " + ("per-channel" if a.get("per_channel") else "per-tensor")
        if a.get("weight_type") == "quint8":
            out += " uint8-weights"
    elif p.name == "quantize-static":
        out = f"int8 static QDQ {a.get('calibrate_method', '')}"
        if a.get("per_channel"):
            out += " per-channel"
    elif p.name.startswith("prune"):
        kind = "structured" if "structured" in p.name else "magnitude"
        out = f"prune {kind} {float(a.get('sparsity', 0)):.0%}"
    else:
        out = p.name
    keep = a.get("nodes_to_exclude") or []
    if keep:
        out += f" ({len(keep)} node{'s' if len(keep) != 1 else ''} kept fp32)"
    return out


def chain_label(passes: list[Pass]) -> str:
    return " + ".join(pass_label(p) for p in passes) or BASE_LABEL


def candidates(artifact: Artifact, hw: Hardware, extra: list[list[Pass]] | None = None) -> list[Candidate]:
    """Every chain the library proposes for this model, with ``skip_reason`` when it cannot apply here."""
    from lepton.passes.defaults import candidate_chains

    out = [Candidate(BASE_LABEL, [], None)]
    seen = {describe([])}
    for passes in [*candidate_chains(artifact, hw), *(extra or [])]:
        key = describe(passes)
        if key in seen:
            continue
        seen.add(key)
        why = next((f"{p.name}: {w}" for p in passes if (w := p.check(artifact, hw))), None)
        out.append(Candidate(chain_label(passes), list(passes), chain_label(passes[:-1]), why))
    labels = [c.label for c in out]
    for c in out:  # two chains that differ only in params hidden by the short label keep distinct names
        if labels.count(c.label) > 1:
            c.label = f"{c.label} [{describe(c.passes)}]"
    return out


def runtime_options(hw: Hardware, batch_sizes: list[int]) -> list[RuntimeConfig]:
    """Thread settings x batch sizes: all cores for one stream, and one thread per caller under load."""
    threads = sorted({hw.physical_cores, 1}, reverse=True)
    return [RuntimeConfig(intra_op_threads=t, batch_size=b) for t in threads for b in batch_sizes]
