"""The spiral notebook's ways of doing things, reimplemented as the baselines that the
suite's fast paths are measured against (benchmarks/ratios.py, the asv suite) and checked
against (tests/test_fast_grid.py).

- `notebook_grid`: `compare_pred`'s decision map: a float64 numpy meshgrid over the
  box, stacked into one (n, 2) array, cast to float32 and pushed through the model in one
  forward pass.
- `notebook_train`: the notebook's `train`: a DataLoader(shuffle=True) over a
  TensorDataset, one optimiser step per minibatch, loss.item() per batch.
- `NotebookMLP`: its MultiLayerModel (no activation after the last hidden layer).
"""

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class NotebookMLP(nn.Module):
    """The notebook's MultiLayerModel, as written there (layer_1 ... layer_n set by
    setattr, the hidden activation after every hidden layer but the last, a sigmoid
    output), with the spiral studies' 3 x 10 as defaults."""

    def __init__(self, n_hidden_layers=3, n_neurons=10, hidden_activations=torch.relu,
                 output_activation=torch.sigmoid):
        super().__init__()
        self.n_layers = n_hidden_layers
        self.n_neurons = [2] + ([n_neurons] * n_hidden_layers if isinstance(n_neurons, int)
                                else list(n_neurons))  # one width, or one per layer
        for i in range(self.n_layers):
            setattr(self, f"layer_{i + 1}", nn.Linear(self.n_neurons[i], self.n_neurons[i + 1]))
        self.out = nn.Linear(self.n_neurons[-1], 1)
        self.hidden_activations = hidden_activations
        self.output_activation = output_activation

    def forward(self, inputs):
        x = inputs
        for i in range(self.n_layers):
            x = getattr(self, f"layer_{i + 1}")(x)
            if i < self.n_layers - 1:
                x = self.hidden_activations(x)
        return self.output_activation(self.out(x))


def notebook_state(model: nn.Module) -> dict:
    """A state dict for NotebookMLP holding the Linear layers of `model` (a suite MLP of
    the same shape), in order."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    names = [f"layer_{i + 1}" for i in range(len(linears) - 1)] + ["out"]
    return {f"{n}.{k}": getattr(m, k).detach().clone() for n, m in zip(names, linears,
                                                                        strict=True)
            for k in ("weight", "bias")}


def notebook_grid(model: nn.Module, x_range, y_range, h: float) -> torch.Tensor:
    """The model's outputs on the grid (ny, nx), the notebook's way."""
    xx, yy = np.meshgrid(np.arange(x_range[0], x_range[1], h),
                         np.arange(y_range[0], y_range[1], h))
    model.eval()
    with torch.no_grad():
        z = model(torch.from_numpy(np.c_[xx.ravel(), yy.ravel()]).type(torch.float32))
    return z.view(-1).reshape(xx.shape)


def notebook_classes(model: nn.Module, x_range, y_range, h: float) -> np.ndarray:
    """The notebook's classes on the grid: output >= 0.5 (its accuracy function's rule)."""
    return (notebook_grid(model, x_range, y_range, h) >= 0.5).numpy()


def notebook_train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int,
                   batch_size: int = 32, lr: float = 0.1) -> list[float]:
    """The notebook's training loop (MSE, SGD); returns its per-epoch loss curve."""
    loader = DataLoader(TensorDataset(x, y), batch_size, shuffle=True)
    criterion, optimizer = nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    curve = []
    for _ in range(epochs):
        total = 0.0
        for xb, yb in loader:
            loss = criterion(model(xb).view(-1), yb.float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch_size / len(x)
        curve.append(total)
    return curve
