"""helpers.plots: the image layouts show what they are given and hide the empty places."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from helpers.plots import class_grid, image_rows, real_vs_generated  # noqa: E402


def shown(fig):
    return sum(bool(ax.images) for ax in fig.axes)


def test_class_grid_marks_missing_classes():
    images = np.zeros((4, 8, 8), np.uint8)
    fig = class_grid(images, np.array([0, 0, 0, 1]), classes=("A", "B", "C"), per_class=2)
    assert shown(fig) == 3  # two of A, one of B, none of C
    assert "C\n(none present)" in [ax.get_ylabel() for ax in fig.axes]


def test_real_vs_generated_and_image_rows():
    real, fake = np.zeros((6, 8, 8, 1), np.float32), np.ones((3, 8, 8, 1), np.float32)
    fig = real_vs_generated(real, np.array([0, 0, 0, 1, 1, 1]), fake, np.array([0, 1, 1]), classes=("A", "B"),
                            per_class=2)
    assert shown(fig) == 4 + 3
    fig = image_rows([[real[0], real[1], real[2]], [fake[0]]], row_titles=["r", "f"], col_titles=["1", "2", "3"])
    assert shown(fig) == 4 and len(fig.axes) == 6
