"""Datasets by name. Each maker draws `n` labelled points from one seed.

`make(name, n, seed, noise)` returns float32 features and int64 labels on the CPU; the
caller moves them to its device. Each split (train, validation, test) is drawn from its
own derived seed, as the spiral notebook draws each split with a fresh call, except for
the makers in `SEED_DRAWS_DISTRIBUTION`: their seed also draws the distribution itself
(the blobs' centres, make_classification's clusters), so their splits come from one draw,
cut in order (`make_split`).
"""

from dataclasses import dataclass

import numpy as np
import torch

from suite.errors import UnknownNameError, did_you_mean


@dataclass(frozen=True)
class Points:
    x: torch.Tensor  # (n, features) float32
    y: torch.Tensor  # (n,) int64

    def to(self, device) -> "Points":
        return Points(self.x.to(device), self.y.to(device))


def spirals(n: int, seed: int, noise: float | None = None) -> Points:
    """Two interlaced spirals: phi ~ U(0, 10), ((phi+1) cos phi, phi sin phi) + N(0, noise);
    the second half of the points is negated and labelled 1 (noise 0.3 by default)."""
    g = torch.Generator().manual_seed(seed)
    phi = torch.rand((n, 1), generator=g) * 10.0
    x = torch.cat(((phi + 1) * torch.cos(phi), phi * torch.sin(phi)), dim=1)
    x = x + torch.randn((n, 2), generator=g) * (0.3 if noise is None else noise)
    y = torch.zeros(n, dtype=torch.int64)
    x[n // 2 :] *= -1
    y[n // 2 :] = 1
    return Points(x, y)


def blobs(n: int, seed: int, noise: float | None = None) -> Points:
    """Two Gaussian blobs in 2-D (cluster standard deviation `noise`, 1.0 by default)."""
    x, y = _sk().make_blobs(n_samples=n, centers=2, n_features=2,
                          cluster_std=1.0 if noise is None else noise, random_state=_np_seed(seed))
    return _points(x, y)


def moons(n: int, seed: int, noise: float | None = None) -> Points:
    """Two interleaving half circles (noise 0.2 by default)."""
    x, y = _sk().make_moons(n_samples=n, noise=0.2 if noise is None else noise,
                          random_state=_np_seed(seed))
    return _points(x, y)


def imbalanced(n: int, seed: int, noise: float | None = None, minority: float = 0.05) -> Points:
    """make_classification: 20 features, 2 informative, 10 redundant, one cluster per class,
    class weights (1 - minority, minority), label noise `noise` (0 by default)."""
    x, y = _sk().make_classification(
        n_samples=n, n_features=20, n_informative=2, n_redundant=10, n_clusters_per_class=1,
        weights=[1 - minority, minority], flip_y=0.0 if noise is None else noise,
        random_state=_np_seed(seed))
    return _points(x, y)


def _logic(n: int, seed: int, noise: float | None, rule) -> Points:
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    x = corners + rng.normal(0.0, 0.1 if noise is None else noise, size=(n, 2))
    return _points(x, rule(corners[:, 0], corners[:, 1]))


def xor(n: int, seed: int, noise: float | None = None) -> Points:
    """Corners of the unit square with Gaussian jitter (0.1), labelled a XOR b."""
    return _logic(n, seed, noise, np.bitwise_xor)


def and_(n: int, seed: int, noise: float | None = None) -> Points:
    """Corners of the unit square with Gaussian jitter (0.1), labelled a AND b."""
    return _logic(n, seed, noise, np.bitwise_and)


def _sk():
    from sklearn import datasets as skd  # imported on use: it costs a second at start-up

    return skd


def _np_seed(seed: int) -> int:
    return seed % (2**32)  # scikit-learn's random_state takes 32 bits


def _points(x, y) -> Points:
    return Points(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))


DATASETS = {
    "spirals": spirals,
    "blobs": blobs,
    "moons": moons,
    "imbalanced": imbalanced,
    "xor": xor,
    "and": and_,
}


def get(name: str):
    if name not in DATASETS:
        valid = ", ".join(sorted(DATASETS))
        raise UnknownNameError(
            f"Unknown dataset '{name}'.{did_you_mean(name, DATASETS)} Valid names: {valid}."
        )
    return DATASETS[name]


def make(name: str, n: int, seed: int, noise: float | None = None) -> Points:
    return get(name)(n, seed, noise)


# Makers whose seed places the classes (centres, clusters): separate draws per split would
# give each split a different distribution.
SEED_DRAWS_DISTRIBUTION = frozenset({"blobs", "imbalanced"})


def make_split(name: str, sizes: tuple[int, ...], seeds: list[int],
               noise: float | None = None) -> tuple[Points, ...]:
    """One set of points per size: each from its own seed, or, for the makers in
    SEED_DRAWS_DISTRIBUTION, all cut in order from one draw with the first seed."""
    if name not in SEED_DRAWS_DISTRIBUTION:
        return tuple(make(name, n, s, noise) for n, s in zip(sizes, seeds, strict=True))
    pts, out, start = make(name, sum(sizes), seeds[0], noise), [], 0
    for n in sizes:
        out.append(Points(pts.x[start:start + n], pts.y[start:start + n]))
        start += n
    return tuple(out)
