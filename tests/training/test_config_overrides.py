"""``mscc-desktop train --set KEY=VALUE``: config settings changed from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mscc_desktop.cli import main
from mscc_desktop.training.configs import detector_config, grader_config, with_overrides


def test_values_take_the_type_of_the_setting() -> None:
    base = grader_config("compact")
    changed = with_overrides(
        base,
        {
            "crop_margin": "0.4",
            "epochs": "7",
            "exclude_degenerative": "false",
            "augmentation": "ct_soft",
            "scale_range": "0.9, 1.1",
            "optimiser.lr": "0.0005",
            "optimiser.cosine": "no",
        },
    )
    assert changed.crop_margin == 0.4 and changed.epochs == 7
    assert changed.exclude_degenerative is False and changed.augmentation == "ct_soft"
    assert changed.scale_range == (0.9, 1.1)
    assert changed.optimiser.lr == 0.0005 and changed.optimiser.cosine is False
    assert changed.optimiser.algorithm == base.optimiser.algorithm  # the rest is kept
    assert with_overrides(base, {}) == base
    assert with_overrides(detector_config("compact"), {"input_size": "256"}).input_size == 256
    # An optional number: set where the config leaves it unset, and unset again with "none".
    paper = grader_config("paper")
    assert paper.optimiser.grad_clip_norm is None
    clipped = with_overrides(paper, {"optimiser.grad_clip_norm": "5"})
    assert clipped.optimiser.grad_clip_norm == 5.0
    assert (
        with_overrides(clipped, {"optimiser.grad_clip_norm": "None"}).optimiser.grad_clip_norm
        is None
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"crop_margn": "0.4"}, r"unknown setting 'crop_margn': use .*crop_margin"),
        ({"name": "paper"}, "unknown setting 'name'"),
        ({"optimiser.speed": "2"}, r"unknown setting 'optimiser.speed': use .*lr"),
        ({"epochs": "many"}, r"cannot set epochs='many': expected int"),
        ({"exclude_degenerative": "maybe"}, "cannot set exclude_degenerative"),
        ({"augmentation": "heavy"}, r"unknown augmentation 'heavy': use .*ct_shape"),
        ({"anchor_sizes": "8,16"}, "nested tuples cannot be set"),
    ],
)
def test_bad_settings_are_refused_with_the_choices(overrides: dict[str, str], message: str) -> None:
    config = detector_config("compact") if "anchor_sizes" in overrides else grader_config("compact")
    with pytest.raises(ValueError, match=message):
        with_overrides(config, overrides)


def test_cli_set_reaches_the_checkpoint_and_bad_ones_fail_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "grader", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--set", "crop_margin"])  # fmt: skip
    assert code == 1 and "--set needs KEY=VALUE" in capsys.readouterr().err
    code = main(["train", "grader", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--set", "crop_margn=0.3"])  # fmt: skip
    assert code == 1 and "unknown setting 'crop_margn'" in capsys.readouterr().err
