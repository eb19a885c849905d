import torch

from suite.seeding import derive
from suite.training import models


def mlp(**over):
    cfg = {"n_hidden_layers": 3, "n_neurons": 10, "activation": "relu",
           "output_activation": "sigmoid", "skip_last_hidden_activation": False, "dropout": 0.0}
    return models.mlp(cfg | over, 2, 1, torch.Generator().manual_seed(0))


def test_parameter_count_matches_the_closed_form():
    # 2-10-10-10-1: (2*10 + 10) + 2 * (10*10 + 10) + (10*1 + 1) = 30 + 220 + 11
    assert models.count_parameters(mlp()) == 261
    # widths as a list: 2-4-7-1: (8+4) + (28+7) + (7+1)
    assert models.count_parameters(mlp(n_hidden_layers=2, n_neurons=[4, 7])) == 55
    # a perceptron: 2-1
    assert models.count_parameters(mlp(n_hidden_layers=0)) == 3


def test_the_notebooks_missing_last_activation_is_an_explicit_option():
    kinds = lambda m: [type(x).__name__ for x in m.body]  # noqa: E731
    assert kinds(mlp(n_hidden_layers=2)) == ["Linear", "ReLU", "Linear", "ReLU"]
    assert kinds(mlp(n_hidden_layers=2, skip_last_hidden_activation=True)) == [
        "Linear", "ReLU", "Linear"]


def test_init_depends_on_the_generator_only():
    torch.manual_seed(123)
    a = mlp()
    torch.manual_seed(456)
    b = mlp()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_init_follows_pytorch_default_bounds():
    m = mlp(n_neurons=50)
    first = m.body[0]
    assert first.weight.abs().max() <= 1 / 2 ** 0.5  # kaiming_uniform(a=sqrt 5): 1/sqrt(fan_in)
    assert first.bias.abs().max() <= 1 / 2 ** 0.5


def test_seeds_are_derived_per_purpose_and_index():
    a, b, c = derive(1, 0), derive(1, 0), derive(1, 1)
    assert a == b and a != c
    values = [a.data, a.init, a.order, a.dropout, a.sampler]
    assert len(set(values)) == 5 and all(0 <= v < 2 ** 63 for v in values)
    assert a.split("data", 3) == b.split("data", 3) and len(set(a.split("data", 3))) == 3
    assert derive(2, 0).data != a.data
