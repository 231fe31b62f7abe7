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


# --------------------------------------------------------------------------- NIH reference beside this run

#: Title of the left panel of :func:`beside_reference`: figures from the shipped NIH aggregates.
REFERENCE_TITLE = "NIH ChestX-ray14\n(official metadata, aggregates shipped with the course)"


def beside_reference(draw, reference: dict, run: dict, run_title: str, title: str | None = None,
                     figsize=(12, 4.2), **kwargs):
    """Two panels drawn the same way: NIH's shipped aggregates on the left, this run's on the right.

    ``draw(stats, ax, **kwargs)`` is one of the ``draw_*`` functions below; ``reference``
    comes from :func:`helpers.explore.nih_reference_stats` and ``run`` from
    :func:`helpers.explore.metadata_summary` (a dict with fewer keys is fine: a panel
    whose statistic is missing says so). The left panel is titled
    :data:`REFERENCE_TITLE`, the right one ``run_title``. Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=figsize)
    for ax, stats, name in zip(axes, (reference, run), (REFERENCE_TITLE, run_title)):
        draw(stats, ax, **kwargs)
        ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def _missing(ax, what: str) -> bool:
    """Write "no <what> for this source" on an empty ``ax``; True if it did."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, f"no {what}\nfor this source", ha="center", va="center", transform=ax.transAxes, color="0.4")
    return True


def _short(n) -> str:
    """12345 -> '12k', 1234 -> '1.2k', 123 -> '123'."""
    n = int(n)
    return f"{n / 1000:.0f}k" if n >= 9500 else f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def _plain_log_axis(axis) -> None:
    """Label a log-scaled axis with plain numbers (1,000 rather than 10^3) and no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axis.set_minor_formatter(NullFormatter())


def draw_class_counts(stats: dict, ax, classes=None) -> None:
    """Images per course class: carrying the label at all (light bar) and carrying it alone (dark bar).

    A linear axis, so the imbalance looks as large as it is; the single-label count is
    written beside each bar, and the largest : smallest ratio of single-label images
    under the axis.
    """
    if "single_label_counts" not in stats:
        _missing(ax, "label counts")
        return
    from matplotlib.ticker import FuncFormatter

    classes = list(classes or stats.get("classes") or CLASSES)
    y = np.arange(len(classes))[::-1]
    single = np.array([stats["single_label_counts"].get(c, 0) for c in classes], float)
    top = single.max()
    if "label_counts" in stats:
        any_ = np.array([stats["label_counts"].get(c, {}).get("any", 0) for c in classes], float)
        ax.barh(y, any_, color="#A6BDDB", label="carrying the label (alone or with others)")
        top = max(top, any_.max())
    ax.barh(y, single, height=0.5, color="#2B5C8A", label="carrying it alone (single-label)")
    for yi, n in zip(y, single):
        ax.text(n + 0.01 * top, yi, f"{int(n):,}", va="center", fontsize=8)
    ax.set_xlim(0, 1.15 * max(top, 1))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_yticks(y, classes)
    present = single[single > 0]
    ratio = f"{present.max() / present.min():.1f} : 1" if len(present) else "n/a"
    ax.set_xlabel(f"images | largest : smallest single-label class = {ratio}")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)


def draw_cooccurrence(stats: dict, ax, labels=None) -> None:
    """Images carrying both labels of a pair (diagonal: images carrying the label), course classes by default.

    Colour is log10(images + 1), each cell is annotated with its count.
    """
    if "cooccurrence" not in stats:
        _missing(ax, "co-occurrence counts")
        return
    names = stats["cooccurrence"]["labels"]
    labels = list(labels or stats.get("classes") or CLASSES)
    idx = [names.index(lab) for lab in labels]
    counts = np.asarray(stats["cooccurrence"]["counts"])[np.ix_(idx, idx)]
    ax.imshow(np.log10(counts + 1), cmap="YlGnBu", vmin=0)
    top = np.log10(counts.max() + 1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            dark = np.log10(counts[i, j] + 1) > 0.6 * top
            ax.text(j, i, _short(counts[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)


def draw_images_per_patient(stats: dict, ax, last: int = 30) -> None:
    """Patients by number of images (log scale); patients with ``last`` or more images share the last bar."""
    if "images_per_patient" not in stats:
        _missing(ax, "patient ids")
        return
    per = stats["images_per_patient"]
    k = np.asarray(per["histogram"]["images"])
    n = np.asarray(per["histogram"]["patients"])
    bars = np.zeros(last, int)
    np.add.at(bars, np.minimum(k, last) - 1, n)
    ax.bar(np.arange(1, last + 1), bars, width=0.85, color="#4C72B0")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    _plain_log_axis(ax.yaxis)
    ax.set_xticks([1, 5, 10, 15, 20, 25, last], ["1", "5", "10", "15", "20", "25", f"{last}+"])
    ax.set_xlabel("images per patient")
    ax.set_ylabel("patients (log scale)")
    ax.text(0.97, 0.95, f"{stats['patients']:,} patients\nmean {per['mean']:.1f}, median {per['median']:g}, "
            f"max {per['max']}\n{per['share_with_follow_ups']:.0%} have follow-ups",
            ha="right", va="top", transform=ax.transAxes, fontsize=8)


def draw_share_ap(stats: dict, ax, classes=None) -> None:
    """Share of AP (bedside) views among the single-label images of each course class."""
    if "by_condition" not in stats:
        _missing(ax, "view positions")
        return
    classes = list(classes or stats.get("classes") or CLASSES)
    share = [stats["by_condition"][c]["share_AP"] or 0.0 for c in classes]
    y = np.arange(len(classes))[::-1]
    ax.barh(y, share, color="#C44E52")
    for yi, s in zip(y, share):
        ax.text(s + 0.01, yi, f"{s:.0%}", va="center", fontsize=8)
    ax.set_yticks(y, classes)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of AP views (single-label images)")
