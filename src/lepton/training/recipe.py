"""The recipe contract: prepare data, give defaults and a search space, build a network, judge it.

A recipe only stores its options in ``__init__``; ``prepare`` reads and checks the data (every bad input is a
``UserError`` raised there, before anything is trained or stored). Recipes are registered by name on ``RECIPES``
(``@RECIPES.register("classify")``); third parties add theirs through the ``lepton.recipes`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from lepton.errors import UserError
from lepton.registry import Registry
from lepton.training.dataset import Prepared, Split
from lepton.training.loop import Batch, Hyper, Objective

if TYPE_CHECKING:
    import optuna

    from lepton.training.baselines import Baseline
    from lepton.training.options import TrainOptions


class Recipe(ABC):
    """Base of every training recipe (registered on ``RECIPES``); ``__init__`` only stores the options."""

    name: ClassVar[str]
    examples: ClassVar[dict[str, str]] = {}  # bundled data sets: name -> description (the first is the hint)

    def __init__(self, opts: TrainOptions) -> None:
        self.opts = opts

    # -- data ---------------------------------------------------------------------------------------
    @abstractmethod
    def prepare(self) -> Prepared: ...

    def example_name(self) -> str:
        if self.opts.example not in self.examples:
            known = ", ".join(f"{k} ({v})" for k, v in self.examples.items())
            raise UserError(f"--example {self.opts.example!r}: {self.name} has these examples: {known}")
        return str(self.opts.example)

    def default_name(self) -> str:
        if self.opts.name:
            return self.opts.name
        if self.opts.example:
            return self.opts.example
        assert self.opts.data is not None
        return Path(self.opts.data).stem or Path(self.opts.data).name

    def torch_split(self, p: Prepared, split: Split) -> tuple[Batch, torch.Tensor]:
        """The split as the network's keyword inputs and its target tensor."""
        inputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in split.inputs.items()}
        return inputs, torch.from_numpy(split.y)

    # -- training -----------------------------------------------------------------------------------
    @abstractmethod
    def defaults(self, p: Prepared) -> Hyper:
        """The recipe's default hyper-parameters for this data (before the user's overrides)."""

    def hyper(self, p: Prepared) -> Hyper:
        """Defaults overlaid with what the user set."""
        return replace(self.defaults(p), **self.opts.hyper())

    @abstractmethod
    def build(self, p: Prepared, hp: Hyper, seed: int) -> nn.Module: ...

    @abstractmethod
    def objective(self, p: Prepared, hp: Hyper) -> Objective: ...

    def param_groups(self, model: nn.Module, hp: Hyper) -> list[dict[str, Any]] | None:
        return None

    @abstractmethod
    def architecture(self, p: Prepared, hp: Hyper) -> str:
        """The network in a few words (``CNN, 2 blocks of 32-64 channels``)."""

    @abstractmethod
    def space(self, trial: optuna.Trial, p: Prepared, base: Hyper) -> Hyper:
        """One point of the tuning search space around ``base``."""

    # -- judging ------------------------------------------------------------------------------------
    @abstractmethod
    def evaluate(self, p: Prepared, outputs: np.ndarray) -> dict[str, Any]:
        """Test-split metrics from the model's outputs on ``p.test``."""

    @abstractmethod
    def baselines(self, p: Prepared) -> list[Baseline]: ...

    @property
    def primary(self) -> tuple[str, bool]:
        """(name of the headline test metric, higher is better)."""
        return ("accuracy", True)

    # -- export -------------------------------------------------------------------------------------
    def export_inputs(self, p: Prepared, split: Split) -> dict[str, np.ndarray]:
        """The split as the exported graph takes it (raw rows)."""
        return dict(split.inputs)

    def extra_files(self, p: Prepared, workdir: Path) -> dict[str, Path]:
        """Files to keep with the artifact besides the eval split (a tokenizer, ...)."""
        return {}

    def preprocessing(self, p: Prepared, model: nn.Module) -> dict[str, Any]:
        """What the graph does to raw inputs before the network, for the record."""
        return {}


RECIPES: Registry[Recipe] = Registry("recipe", "lepton.recipes")


def recipes() -> Registry[Recipe]:
    """The recipe registry with the built-in recipes registered (their modules register on import)."""
    from lepton.training import classify, finetune, forecast  # noqa: F401

    return RECIPES


def recipe_for(opts: TrainOptions) -> Recipe:
    """The registered recipe ``opts.recipe`` names, holding ``opts``."""
    return recipes().get(opts.recipe)(opts)
