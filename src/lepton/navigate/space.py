"""The search space, built from the registries: pass chains x engines x runtime settings.

Every registered pass declares what the navigator tries by default (``Pass.proposals``), on which model
families (``Pass.model_families``) and what it needs from the machine (``Pass.needs``); every registered engine
declares whether variants are searched on it (``Engine.searched``) and its runtime settings
(``Engine.runtime_options``). A pass or engine a plug-in registers through an entry point is searched like the
built-in ones, without editing this package.
"""

from __future__ import annotations

from dataclasses import dataclass

from lepton.engines.base import ENGINES, RuntimeConfig
from lepton.hardware import Hardware
from lepton.ir.artifact import Artifact
from lepton.ir.family import model_family
from lepton.measure.trial import ChainStep
from lepton.passes import PASSES, Pass, describe

BASE_LABEL = "fp32"


@dataclass
class Candidate:
    """One pass chain; ``parent`` is the label of the chain it extends (for slower-than-parent notes)."""

    label: str
    passes: list[Pass]
    parent: str | None = None
    skip_reason: str | None = None  # set when a pass in the chain does not apply here

    @property
    def chain(self) -> tuple[ChainStep, ...]:
        return tuple(ChainStep(pass_=p.name, params=p.params.to_json()) for p in self.passes)


def chain_label(passes: list[Pass]) -> str:
    return " + ".join(p.label() for p in passes) or BASE_LABEL


def passes_of(chain: tuple[ChainStep, ...]) -> list[Pass]:
    """The passes a recorded chain ran (to rebuild a variant or extend it)."""
    return [PASSES.get(step.pass_)(**step.params) for step in chain]


def proposed_chains(artifact: Artifact) -> list[tuple[list[Pass], str | None]]:
    """Every chain the registered passes propose for ``artifact``'s model family, best-ranked first, each with
    the prior that says it rarely pays on this family (or None).

    A graph-family proposal is a chain of its own; other proposals go on the model as it is (``"model"``)
    and/or after the best-ranked graph proposal (``"graph"``).
    """
    family = model_family(artifact)
    ranked: list[tuple[int, Pass, tuple[str, ...], str | None]] = []
    for _, cls in PASSES:
        if cls.worth_trying(family):
            ranked += [(p.rank, cls(**dict(p.params)), p.after, p.unlikely.get(family)) for p in cls.proposals]
    ranked.sort(key=lambda r: r[0])
    graph = next((p for _, p, _, _ in ranked if p.family == "graph"), None)
    chains: list[tuple[int, list[Pass], str | None]] = []
    for rank, p, after, prior in ranked:
        if p.family == "graph":
            chains.append((rank, [p], prior))
            continue
        for where in after:
            if where == "model":
                chains.append((rank, [p], prior))
            elif where == "graph" and graph is not None:
                chains.append((rank, [graph, p], prior))
    return [(c, prior) for _, c, prior in sorted(chains, key=lambda r: r[0])]


def candidates(
    artifact: Artifact, hw: Hardware, extra: list[list[Pass]] | None = None, *, exhaustive: bool = False
) -> list[Candidate]:
    """The base model plus every proposed chain, with ``skip_reason`` when a later step cannot apply here, or
    when a prior says it rarely pays on this model family (``exhaustive`` tries those anyway).

    Chains whose first pass refuses this model or machine are left out (they are not worth a line); a
    refusal found only while building is recorded as the candidate's failure.
    """
    out = [Candidate(BASE_LABEL, [], None)]
    seen = {describe([])}
    for passes, prior in [*proposed_chains(artifact), *((c, None) for c in extra or [])]:
        key = describe(passes)
        if key in seen or passes[0].check(artifact, hw) is not None:
            continue
        seen.add(key)
        why = next((f"{p.name}: {w}" for p in passes if (w := p.check(artifact, hw))), None)
        if why is None and prior and not exhaustive:
            why = f"prior: {prior}; --exhaustive tries it anyway"
        out.append(Candidate(chain_label(passes), list(passes), chain_label(passes[:-1]), why))
    labels = [c.label for c in out]
    for c in out:  # two chains that differ only in params hidden by the short label keep distinct names
        if labels.count(c.label) > 1:
            c.label = f"{c.label} [{describe(c.passes)}]"
    return out


def search_engines(artifact: Artifact, exhaustive: bool = False) -> tuple[list[str], dict[str, str]]:
    """The registered engines variants are searched on that can run ``artifact`` here, and those a prior
    skips (engine -> why; ``exhaustive`` skips none)."""
    engines, skipped = [], {}
    for name, cls in ENGINES:
        engine = cls()
        if not cls.searched or engine.unavailable(artifact) is not None:
            continue
        prior = None if exhaustive else engine.unlikely(artifact)
        if prior:
            skipped[name] = prior
        else:
            engines.append(name)
    return engines, skipped


def runtime_options(engine: str, hw: Hardware, batch_sizes: list[int]) -> list[RuntimeConfig]:
    """The runtime settings the engine proposes, at every batch size."""
    return ENGINES.get(engine)().runtime_options(hw, batch_sizes)
