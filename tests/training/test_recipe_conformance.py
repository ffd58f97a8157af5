"""One suite run over every registered recipe (as for passes and engines): declarations on the class, ``__init__``
only stores, its bundled example prepares, builds a network that runs, and is judged by its own metric."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from lepton.errors import UserError
from lepton.training.options import TrainOptions
from lepton.training.recipe import Recipe, recipe_for, recipes

NAMES = recipes().names()


def test_the_built_in_recipes_are_registered() -> None:
    assert {"classify", "forecast", "finetune"} <= set(NAMES)
    with pytest.raises(UserError, match="unknown recipe 'regress'; known: classify, finetune, forecast"):
        TrainOptions.build("regress", example="digits")


@pytest.mark.parametrize("name", NAMES)
def test_declarations_are_on_the_class(name: str) -> None:
    cls = recipes().get(name)
    assert cls.name == name and cls.__doc__ and not inspect.isabstract(cls)
    assert cls.examples and all(isinstance(k, str) and v for k, v in cls.examples.items())
    assert cls.__init__ is Recipe.__init__  # __init__ only stores the options


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_example_names_the_bundled_ones(name: str) -> None:
    recipe = recipe_for(TrainOptions.build(name, example="nope"))
    with pytest.raises(UserError, match=f"--example 'nope': {name} has these examples: {next(iter(recipe.examples))}"):
        recipe.prepare()
    with pytest.raises(UserError, match=f"give DATA .* or --example \\({' or '.join(recipe.examples)}\\)"):
        TrainOptions.build(name)


@pytest.mark.parametrize("name", NAMES)
def test_the_bundled_example_prepares_builds_and_is_judged(name: str) -> None:
    example = next(iter(recipes().get(name).examples))
    opts = TrainOptions.build(name, example=example)
    recipe = recipe_for(opts)
    assert vars(recipe) == {"opts": opts} and recipe.default_name() == example
    p = recipe.prepare()
    assert min(len(p.train), len(p.val), len(p.test)) > 0 and p.report
    hp = recipe.hyper(p)
    assert recipe.architecture(p, hp)
    net = recipe.build(p, hp, seed=0).eval()
    inputs, _ = recipe.torch_split(p, p.test)
    with torch.no_grad():
        out = net(**inputs).numpy()
    assert len(out) == len(p.test) and np.isfinite(out).all()
    metrics = recipe.evaluate(p, out)
    assert recipe.primary[0] in metrics  # the headline metric is one the recipe reports
    assert recipe.baselines(p)
