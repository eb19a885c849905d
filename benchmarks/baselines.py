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
    def __init__(self, n_hidden_layers: int = 3, n_neurons: int = 10):
        super().__init__()
        sizes = [2] + [n_neurons] * n_hidden_layers
        pairs = zip(sizes, sizes[1:], strict=False)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.out = nn.Linear(sizes[-1], 1)

    def forward(self, x):
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            if i < len(self.hidden) - 1:
                x = torch.relu(x)
        return torch.sigmoid(self.out(x))


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
