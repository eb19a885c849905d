"""The chunked grid evaluator behind the decision maps."""

import numpy as np
import pytest
import torch

from suite.training.decision_grid import evaluate_grid, grid_axes


def plane(points: torch.Tensor) -> torch.Tensor:
    assert points.dtype == torch.float32 and torch.is_inference_mode_enabled()
    return points[:, 0] + 10 * points[:, 1]


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_grid_is_meshgrid_layout_whatever_the_chunk(chunk):
    z = evaluate_grid(plane, (-1.0, 1.0), (0.0, 0.5), 0.25, chunk=chunk)
    xs, ys = np.arange(-1.0, 1.0, 0.25), np.arange(0.0, 0.5, 0.25)
    xx, yy = np.meshgrid(xs, ys)
    assert z.shape == (2, 8)
    np.testing.assert_array_equal(z, (xx.astype(np.float32) + 10 * yy.astype(np.float32)))


def test_axes_are_the_notebooks_arange_and_bad_steps_are_refused():
    xs, ys = grid_axes((-2.3, 1.7), (0.0, 1.0), 0.01)
    assert len(xs) == len(np.arange(-2.3, 1.7, 0.01)) == 400 and len(ys) == 100
    with pytest.raises(ValueError):
        evaluate_grid(plane, (0, 1), (0, 1), 0.0)
