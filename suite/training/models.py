"""The MLP family, initialised from its own seeded generator.

`MLP` is input -> [Linear -> activation (-> dropout)] x n_hidden -> Linear -> output
activation. The spiral notebook's model leaves out the activation after its last hidden
layer (so its last two linear maps compose into one); `skip_last_hidden_activation=True`
reproduces that. The class's own default is off; the `supervised` task's is on (the
notebook's recipe), and studies of other notebooks declare it off.
"""

import math

import torch
from torch import nn

from suite.training import components


class MLP(nn.Module):
    def __init__(self, n_inputs: int, widths: list[int], n_outputs: int, activation: str = "relu",
                 output_activation: str = "sigmoid", skip_last_hidden_activation: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        sizes = [n_inputs, *widths]
        for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if not (skip_last_hidden_activation and i == len(widths) - 1):
                layers.append(components.get("activation", activation)())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(sizes[-1], n_outputs)
        self.output_activation = components.get("activation", output_activation)()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden representation (the input of the final layer)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_activation(self.out(self.body(x)))


def init_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default Linear and Conv2d init (Kaiming-uniform weights, a=sqrt(5); biases
    uniform in +-1/sqrt(fan_in)), drawn from `generator` in module order, so init depends on
    the init seed alone."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(m.weight[0].numel())  # fan_in: inputs x kernel size
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


def widths_of(n_hidden_layers: int, n_neurons) -> list[int]:
    if isinstance(n_neurons, int):
        return [n_neurons] * n_hidden_layers
    return list(n_neurons)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def mlp(config, n_inputs: int, n_outputs: int, generator: torch.Generator) -> MLP:
    """The MLP a resolved config describes, initialised on the CPU from `generator`."""
    model = MLP(n_inputs, widths_of(config["n_hidden_layers"], config["n_neurons"]), n_outputs,
                config["activation"], config["output_activation"],
                config["skip_last_hidden_activation"], config["dropout"])
    return init_(model, generator)


MODELS = {"mlp": mlp}
