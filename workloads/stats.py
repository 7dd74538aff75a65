"""Intervals over seeds: Student-t 95% intervals for a mean and for a paired difference.

Each seed gives one accuracy; seeds are independent draws of weights, batch order, data split and
flips, so the mean over ``n`` seeds has the interval mean +- t(0.975, n - 1) * s / sqrt(n), ``s`` the
sample standard deviation and t the Student-t quantile (scipy.stats.t). The paired difference
(injected minus baseline, same seed) gets the same interval over its ``n`` differences; it is
significant at 95% when that interval excludes 0. One seed gives no interval (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int

    @property
    def significant(self) -> bool | None:
        """True if the interval excludes 0 (None without an interval)."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of ``values`` with its Student-t interval at ``level`` (None bounds for fewer than 2)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Interval(math.nan, None, None, 0)
    mean = float(x.mean())
    if x.size < 2 or not np.all(np.isfinite(x)):
        return Interval(mean, None, None, int(x.size))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, int(x.size))


def paired_difference(injected: Sequence[float], baseline: Sequence[float], level: float = LEVEL) -> Interval:
    """The mean of injected - baseline over paired seeds, with its t interval."""
    a, b = np.asarray(injected, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length ({a.size} and {b.size})")
    return t_interval(a - b, level)
