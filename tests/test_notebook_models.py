"""The spiral studies train seed 001's own model: its `MultiLayerModel`, which has no
activation after its last hidden layer. The notebook's class is written out here as the
oracle (`benchmarks.baselines.NotebookMLP`, its forward pass as written there) and given the
suite model's weights."""

import pytest
import torch
from torch import nn

from benchmarks import baselines
from suite.study import shipped as registry
from suite.study.planning import grid
from suite.tasks import supervised

SPIRAL_STUDIES = [n for n in registry.names()  # every study of the two spirals
                  if registry.load(n).fixed.get("dataset") == "spirals"]


MultiLayerModel = baselines.NotebookMLP  # seed 001, In [20], as written there


ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
               "elu": nn.functional.elu, "identity": lambda x: x}


def notebook_twin(model, config) -> MultiLayerModel:
    twin = MultiLayerModel(config["n_hidden_layers"], config["n_neurons"],
                           ACTIVATIONS[config["activation"]],
                           ACTIVATIONS[config["output_activation"]])
    ours = [m for m in model.modules() if isinstance(m, nn.Linear)]
    theirs = [getattr(twin, f"layer_{i + 1}") for i in range(twin.n_layers)] + [twin.out]
    assert len(ours) == len(theirs)
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)
    return twin


def test_there_are_spiral_studies():
    assert len(SPIRAL_STUDIES) >= 9 and "spiral-first-runs" in SPIRAL_STUDIES


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("name", SPIRAL_STUDIES)
def test_every_spiral_study_trains_the_notebooks_model(name, quick):
    study = registry.load(name, quick=quick)
    assert "MultiLayerModel" in study.description  # the page says which model it is
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    for _, config in grid(study):
        assert config["skip_last_hidden_activation"] is True
        model = supervised.load_model(config, supervised.state_bytes(
            supervised.MODELS[config["model"]](config, 2, 1, torch.Generator().manual_seed(1))))
        if config["n_hidden_layers"] > 0:  # structure: no activation after the last hidden
            assert isinstance(model.body[-1], nn.Linear)
        assert torch.equal(model(x), notebook_twin(model, config)(x))


def test_the_always_activated_mlp_is_a_declared_choice_and_differs():
    config = {**supervised.TASK.defaults(), "skip_last_hidden_activation": False}
    model = supervised.MODELS["mlp"](config, 2, 1, torch.Generator().manual_seed(1))
    assert not isinstance(model.body[-1], nn.Linear)  # ReLU after the last hidden layer
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)) * 5
    assert not torch.allclose(model(x), notebook_twin(model, config)(x))
    assert supervised.TASK.defaults()["skip_last_hidden_activation"] is True
