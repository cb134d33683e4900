"""The flat-curve rule (topdown_zoo.convergence) and every shipped model judged by it (issue 13, item 1)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from topdown_zoo import model_card
from topdown_zoo.convergence import plateau, slope
from topdown_zoo.paths import shipped_hub_dir

ROOT = Path(__file__).resolve().parent.parent


def _write_history(path: Path, column: str, values: list[float]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "loss", column])
        for i, v in enumerate(values):
            writer.writerow([i, 1.0, v])
    return path


def test_slope_matches_a_hand_computed_least_squares_line() -> None:
    # y = 2, 3, 7 at x = 0, 1, 2: mean x 1, mean y 4, slope = ((-1)(-2) + 0 + (1)(3)) / 2 = 2.5
    assert slope([2.0, 3.0, 7.0]) == pytest.approx(2.5)
    assert slope([5.0, 5.0, 5.0, 5.0]) == 0.0
    with pytest.raises(ValueError, match="at least 2 epochs"):
        slope([1.0])


def test_rising_accuracy_is_not_flat_and_a_plateau_is(tmp_path: Path) -> None:
    rising = plateau(_write_history(tmp_path / "a.csv", "val_accuracy", [0.5 + 0.005 * i for i in range(20)]))
    assert rising.metric == "val_accuracy" and rising.window == 10
    assert rising.projected_improvement == pytest.approx(0.05)  # 0.005 per epoch, 10 epochs ahead
    assert not rising.flat and "NOT flat" in rising.describe()
    level = plateau(_write_history(tmp_path / "b.csv", "val_accuracy", [0.5 + 0.005 * i for i in range(10)] + [0.56] * 10))
    assert level.projected_improvement == pytest.approx(0.0) and level.flat


def test_loss_is_judged_relative_to_its_level_and_overfitting_counts_as_flat(tmp_path: Path) -> None:
    # falls 0.01 per epoch; the last 5 epochs (0.995 ... 0.955) average 0.975: 0.1 / 0.975 in 10 epochs
    falling = plateau(_write_history(tmp_path / "a.csv", "val_loss", [1.045 - 0.01 * i for i in range(10)]))
    assert falling.window == 5  # half of a 10-epoch run
    assert falling.projected_improvement == pytest.approx(0.1 / 0.975)
    assert not falling.flat
    rising = plateau(_write_history(tmp_path / "b.csv", "val_loss", [1.0 + 0.01 * i for i in range(20)]))
    assert rising.projected_improvement < 0 and rising.flat


def test_a_history_without_validation_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.5\n")
    with pytest.raises(ValueError, match="no val_accuracy or val_loss"):
        plateau(path)
    with pytest.raises(FileNotFoundError, match="history.csv"):
        plateau(tmp_path / "missing.csv")


def test_the_card_states_the_verdict() -> None:
    card = model_card.render(curves="curves.png", convergence="flat: +0.10 points projected")
    assert "Validation curve: flat: +0.10 points projected" in card


@pytest.mark.parametrize("history", sorted(shipped_hub_dir().glob("*/history.csv")), ids=lambda p: p.parent.name)
def test_every_shipped_model_was_trained_until_its_validation_curve_is_flat(history: Path) -> None:
    verdict = plateau(history)
    assert verdict.flat, f"{history.parent.name}: {verdict.describe()}; train it longer (recipes/{history.parent.name}.yaml)"


def test_every_shipped_folder_has_a_history() -> None:
    folders = [p for p in shipped_hub_dir().iterdir() if (p / "config.json").is_file()]
    assert folders and all((p / "history.csv").is_file() for p in folders)


def test_the_tool_exits_nonzero_when_a_curve_is_not_flat(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import check_convergence

    (tmp_path / "m").mkdir()
    _write_history(tmp_path / "m" / "history.csv", "val_accuracy", [0.5 + 0.01 * i for i in range(20)])
    assert check_convergence.main(["--hub-dir", str(tmp_path)]) == 1
    _write_history(tmp_path / "m" / "history.csv", "val_accuracy", [0.7] * 20)
    assert check_convergence.main(["--hub-dir", str(tmp_path)]) == 0


def test_curves_of_a_wide_range_are_drawn_on_a_log_scale(tmp_path: Path) -> None:
    from topdown_zoo.plots.curves import plot_history, wants_log_scale

    assert wants_log_scale([0.04, 0.01, 0.0002])  # a loss falling 200-fold: the plateau needs a log axis
    assert not wants_log_scale([0.3, 0.8, 1.0])  # an accuracy
    assert not wants_log_scale([-1.0, 50.0])  # a negative value cannot go on a log axis
    history = _write_history(tmp_path / "h.csv", "val_loss", [0.04 / (i + 1) ** 2 for i in range(20)])
    plot_history(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
