"""The benchmarks' percentiles: interpolated, so a p50 of two clusters is not either cluster's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from loadgen import percentile  # bench/ is no package: found by the path above


def test_the_median_of_two_equal_clusters_lies_between_them() -> None:
    cold, warm = [1288.0] * 8, [243.0] * 8
    assert percentile(cold + warm, 50) == (1288.0 + 243.0) / 2


def test_percentiles_interpolate_and_keep_to_the_ends() -> None:
    values = [float(v) for v in range(101)]
    assert percentile(values, 99) == 99.0
    assert percentile([10.0, 20.0], 25) == 12.5
    assert percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
