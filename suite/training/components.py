"""Components by name: activations, losses and optimisers.

Every choice a study can make by name lives in a dict here (datasets live in
`suite.training.datasets`, tasks in `suite.tasks`); `get` is the one getter, and its error
lists the valid names.
"""

import functools

import torch
from torch import nn

from suite.errors import UnknownNameError, did_you_mean

ACTIVATIONS = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "identity": nn.Identity,
}

# Each loss says which output activation it expects the model to end with, so a
# declaration that pairs them wrongly is refused before training.
LOSSES = {
    "mse": nn.MSELoss,
    "bce": nn.BCELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
    "cross_entropy": nn.CrossEntropyLoss,
}
LOSS_OUTPUTS = {
    "mse": {"sigmoid", "identity", "tanh"},
    "bce": {"sigmoid"},
    "bce_with_logits": {"identity"},
    "cross_entropy": {"identity"},
}

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "sgd_momentum": functools.partial(torch.optim.SGD, momentum=0.9),
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
}

CATALOGUE = {"activation": ACTIVATIONS, "loss": LOSSES, "optimizer": OPTIMIZERS}


def get(kind: str, name: str):
    """The component called `name` among the `kind`s; the error lists the valid names."""
    table = CATALOGUE[kind]
    if name not in table:
        valid = ", ".join(sorted(table))
        raise UnknownNameError(
            f"Unknown {kind} '{name}'.{did_you_mean(name, table)} Valid names: {valid}."
        )
    return table[name]
