"""Figures shared by the notebooks: image grids, class bars, heatmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers import CLASSES


def class_grid(images, labels, classes=CLASSES, per_class: int = 6, seed: int = 0, title: str | None = None,
               scale: float = 1.3):
    """A figure with one row per class and ``per_class`` example images in each.

    ``images`` may be uint8 or float in [-1, 1], ``(N, S, S)`` or ``(N, S, S, 1)``.
    A class without images gets an empty row labelled "(none present)".
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * scale, len(classes) * scale),
                             squeeze=False)
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j in range(per_class):
            ax = axes[c, j]
            _draw(ax, images[pick[j]] if j < len(pick) else None)
            if j == 0:
                ax.set_ylabel(name if len(idx) else f"{name}\n(none present)", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _to_display(image) -> np.ndarray:
    x = np.asarray(image)
    if x.ndim == 3:
        x = x[..., 0]
    if x.dtype != np.uint8:
        x = np.clip((x + 1.0) * 127.5, 0, 255)
    return x


def _draw(ax, image=None) -> None:
    """Show one image on ``ax`` without ticks, or hide ``ax`` when ``image`` is None."""
    ax.set_xticks([])
    ax.set_yticks([])
    if image is None:
        ax.axis("off")
    else:
        ax.imshow(_to_display(image), cmap="gray", vmin=0, vmax=255)


def save_figure(fig, run_dir, name: str) -> Path:
    """Save ``fig`` as ``run_dir/figures/name.png`` and return the path."""
    path = Path(run_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def bar_counts(counts, title: str, log: bool = False, ax=None):
    """Horizontal bar chart of a pandas Series of counts."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(counts) + 1))
    counts.sort_values().plot.barh(ax=ax, logx=log, color="#4C72B0")
    ax.set_title(title)
    ax.set_xlabel("images" + (" (log scale)" if log else ""))
    return ax


def sample_sheet(images, classes, rows: int, path=None, title: str | None = None, scale: float = 1.1):
    """Generated images laid out with one **column per condition** and ``rows`` rows.

    ``images`` are ordered row by row (``labels = tile(arange(C), rows)``). Saved to
    ``path`` when given; returns the figure.
    """
    import matplotlib.pyplot as plt

    n = len(classes)
    fig, axes = plt.subplots(rows, n, figsize=(n * scale, rows * scale + 0.4), squeeze=False)
    for i in range(rows * n):
        ax = axes[i // n, i % n]
        ax.imshow(_to_display(images[i]), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.set_title(classes[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig


def real_vs_generated(real, real_labels, generated, generated_labels, classes=CLASSES, per_class: int = 4,
                      seed: int = 0, scale: float = 1.1):
    """One row per condition: ``per_class`` real images, a gap, then ``per_class`` generated ones."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    cols = 2 * per_class + 1
    fig, axes = plt.subplots(len(classes), cols, figsize=(cols * scale, len(classes) * scale + 0.5), squeeze=False)
    for c, name in enumerate(classes):
        for side, (images, labels) in enumerate(((real, real_labels), (generated, generated_labels))):
            idx = np.flatnonzero(np.asarray(labels) == c)
            pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
            for j in range(per_class):
                _draw(axes[c, side * (per_class + 1) + j], images[pick[j]] if j < len(pick) else None)
        axes[c, 0].set_ylabel(name, fontsize=8)
        axes[c, per_class].axis("off")
    axes[0, per_class // 2].set_title("real", fontsize=10)
    axes[0, per_class + 1 + per_class // 2].set_title("generated", fontsize=10)
    fig.tight_layout()
    return fig


def image_rows(rows, row_titles=None, col_titles=None, scale: float = 1.1, title: str | None = None):
    """Show a 2-D layout of images: ``rows[i][j]`` is one image (uint8 or float in [-1, 1])."""
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * scale, n_rows * scale + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            _draw(ax, row[j] if j < len(row) else None)
            if i == 0 and col_titles is not None and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=8)
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
