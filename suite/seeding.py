"""Seeds are derived, never shared.

A study has one root seed. Seed index `s` of the study gets
`SeedSequence([root, s])`, split into one child per purpose. Trials that differ only
in their scientific values share seed index `s`, so they see the same data and the same
data order (common random numbers make their comparison paired); their initialisation
draws from the same stream but differs wherever the shapes differ.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch

PURPOSES = ("data", "init", "order", "dropout", "sampler")


@dataclass(frozen=True)
class TrialSeeds:
    root: int
    index: int
    data: int
    init: int
    order: int
    dropout: int
    sampler: int

    def as_dict(self) -> dict:
        return asdict(self)

    def generator(self, purpose: str, device="cpu") -> torch.Generator:
        """A fresh torch generator for one purpose (one consumer, one generator)."""
        return torch.Generator(device=device).manual_seed(getattr(self, purpose))

    def numpy(self, purpose: str) -> np.random.Generator:
        return np.random.default_rng(getattr(self, purpose))

    def split(self, purpose: str, n: int) -> list[int]:
        """`n` independent 63-bit seeds derived from one purpose (e.g. train/val/test)."""
        children = np.random.SeedSequence(getattr(self, purpose)).spawn(n)
        return [_to_int(c) for c in children]


def _to_int(seq: np.random.SeedSequence) -> int:
    # 63 bits: fits SQLite's signed INTEGER and torch's manual_seed.
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def derive(root: int, index: int) -> TrialSeeds:
    """The seeds of seed index `index` under study root seed `root`."""
    children = np.random.SeedSequence([root, index]).spawn(len(PURPOSES))
    values = {p: _to_int(c) for p, c in zip(PURPOSES, children, strict=True)}
    return TrialSeeds(root=root, index=index, **values)
