"""tools/measure_cbl_placements.py: the table pairs CBL and its twin by seed, and the MAC ratios
are counted on the entry's own input (mnist5k: one channel)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "benchmarks")]

import measure_cbl_placements as placements  # noqa: E402


def test_gains_are_paired_by_seed_and_signed():
    results = {"macs_t2": {lowest: {"mnist5k": 2.0, "cifar10": 1.9} for lowest in placements.ALL_TAPS},
               "ff": {"clean": [0.90, 0.80], "noisy": [0.50, 0.40]},
               "cbl": {"block4": {"clean": [0.91, 0.79], "noisy": [0.60, 0.40]}}}
    body = placements.table(results, [0, 1])
    row = next(line for line in body.splitlines() if line.startswith("| block4 |"))
    # clean gains +1 and −1 points: mean +0.00, sample std 1.41; noisy gains +10 and 0: +5.00 ± 7.07
    assert "| +0.00 ± 1.41 |" in row and "| +5.00 ± 7.07 |" in row
    assert "2.00× | 1.90×" in row


def test_mac_ratios_of_a_one_channel_entry():
    import cbl_flops as flops

    rows = {r["taps"][0]: r["T=2"] for r in flops.placements("cbl-cnn-mnist5k", 28, steps=(2,))}
    assert set(rows) == set(placements.ALL_TAPS)
    # the lower the lowest tap, the more stages every step re-runs
    assert rows["block1"] > rows["block2"] > rows["block3"] > rows["block4"] >= 1.0
