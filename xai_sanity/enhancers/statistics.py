"""Streaming reductions of an ensemble of attributions: mean, mean of squares, variance."""

from __future__ import annotations

import torch

__all__ = ["STATISTICS", "RunningStatistic"]

STATISTICS = ("mean", "mean_square", "variance")


class RunningStatistic:
    """Streaming mean / mean of squares / variance over the leading axis of batches.

    Chunks are merged with Chan et al.'s parallel update (the batched form of Welford's
    algorithm): ``M2`` only ever adds squares, so the variance is never negative, unlike
    the ``E[a²] - E[a]²`` form used by captum's ``NoiseTunnel(vargrad)``.
    """

    def __init__(self, statistic: str = "mean", unbiased: bool = False) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        self.statistic = statistic
        self.unbiased = unbiased
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, samples: torch.Tensor) -> None:
        """Add ``samples`` of shape ``(k, *shape)``."""
        if self.statistic == "mean_square":
            samples = samples * samples
        k = samples.shape[0]
        chunk_mean = samples.mean(0)
        if self.mean is None:
            self.count, self.mean = k, chunk_mean
            if self.statistic == "variance":
                self.m2 = ((samples - chunk_mean) ** 2).sum(0)
            return
        total = self.count + k
        delta = chunk_mean - self.mean
        self.mean = self.mean + delta * (k / total)
        if self.statistic == "variance":
            chunk_m2 = ((samples - chunk_mean) ** 2).sum(0)
            self.m2 = self.m2 + chunk_m2 + delta**2 * (self.count * k / total)
        self.count = total

    def result(self) -> torch.Tensor:
        if self.mean is None:
            raise ValueError("no samples were added")
        if self.statistic != "variance":
            return self.mean
        ddof = 1 if self.unbiased else 0
        if self.count - ddof <= 0:
            raise ValueError("the unbiased variance needs at least 2 samples")
        return self.m2 / (self.count - ddof)
