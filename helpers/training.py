"""The infrastructure around ``model.fit`` for a conditional GAN: callbacks, checkpoints, resume.

The GAN itself (losses, augmentation, ``train_step``) is written in notebook 04 and
exported as ``helpers.gan``; the networks come from notebook 03 (``helpers.models``).
This module holds what is not the lesson:

- callbacks: a sample grid (fixed noise, one column per condition, optionally shown
  inline), a checkpointer (the whole training state, a ``tf.train.Checkpoint``), a divergence
  guard, a step budget with an optional wall-clock cap that prints progress and an
  ETA, and a periodic evaluation hook; plus Keras' ``CSVLogger`` and ``TensorBoard``;
- :func:`save_checkpoint` / :func:`restore_checkpoint`: exact resume (the random state
  of a run is its step counter);
- :func:`pick_strategy`: TPU, several GPUs or one device;
- :func:`train`: builds (or takes) a GAN, resumes from ``RUN_DIR`` and calls ``fit``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from helpers.config import GANConfig
from helpers.generate import export_generator, generate_images


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model; nothing was overwritten."""


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf or diverged; the last good checkpoint is kept."""


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(gan, folder, keep: int = 3, keep_every: int = 1000) -> Path:
    """Write the whole training state of ``gan`` to ``folder/ckpt-<step>`` and return that path (a prefix).

    A ``tf.train.Checkpoint`` of the GAN holds every variable it tracks: both networks, the EMA
    copy, the optimisers and the step, matched on restore by where they sit in the GAN.
    ``tf.train.CheckpointManager`` writes it (the ``folder/checkpoint`` file that names the newest is
    replaced atomically once its files are complete) and keeps the newest ``keep``; every
    ``keep_every`` steps a milestone copy also goes to ``folder/milestones/``, never deleted (0: none).
    """
    import tensorflow as tf

    step = int(np.asarray(gan.step))
    checkpoint = tf.train.Checkpoint(gan=gan)
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=keep)
    path = manager.save(checkpoint_number=step)
    if keep_every and step % keep_every == 0:
        checkpoint.write(str(Path(folder) / "milestones" / f"ckpt-{step}"))
    return Path(path)


def latest_checkpoint(folder) -> Path | None:
    """The newest checkpoint in ``folder`` (a path prefix such as ``folder/ckpt-3000``), or None."""
    import tensorflow as tf

    folder = Path(folder)
    if any(folder.glob("ckpt-*.npz")):
        raise CheckpointError(f"{folder} holds .npz checkpoints, written by an earlier version of the course that "
                              "this one cannot read: choose a new RUN_DIR, or delete that folder to retrain")
    found = tf.train.latest_checkpoint(str(folder))
    if found is None and (folder / "checkpoint").is_file():
        raise CheckpointError(f"{folder / 'checkpoint'} cannot be read or names checkpoint files that are missing. "
                              "Nothing was overwritten: restore the files, or choose a new RUN_DIR to start over.")
    return Path(found) if found else None


def restore_checkpoint(gan, path) -> int:
    """Load the checkpoint ``path`` (a prefix such as ``.../ckpt-3000``) into ``gan`` (compiled); return its step.

    Every variable must match, both ways; otherwise (or when the files cannot be read) it raises
    :class:`CheckpointError`.
    """
    import tensorflow as tf

    path = Path(path)
    if not Path(f"{path}.index").is_file():
        found = sorted(p.name.removesuffix(".index") for p in path.parent.glob("*.index"))
        raise CheckpointError(f"checkpoint {path} does not exist; checkpoints there: {found or 'none'}")
    checkpoint = tf.train.Checkpoint(gan=gan)
    try:
        status = checkpoint.restore(str(path))
        status.expect_partial()  # silences TensorFlow's warnings about unmatched values: the next line raises instead
        status.assert_consumed()
    except (AssertionError, ValueError) as exc:  # variables missing on either side, or of other shapes
        reason = " ".join(str(exc).split())[:500]
        raise CheckpointError(f"checkpoint {path} was written by a different model ({reason}). Nothing was "
                              "overwritten: resume with that run's config.json, or choose a new RUN_DIR.") from None
    except Exception as exc:  # truncated or overwritten files: TensorFlow's reader raises several kinds of error
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {str(exc)[:300]}). Nothing "
                              "was overwritten: delete this checkpoint's files to resume from an older one, or use a "
                              "new RUN_DIR to start over.") from None
    return int(np.asarray(gan.step))


# --------------------------------------------------------------------------- callbacks

class SampleGrid(keras.callbacks.Callback):
    """Every ``every`` epochs, save (and optionally show) a grid from fixed noise: one column per condition."""

    def __init__(self, run_dir, rows: int = 4, every: int = 1, show: bool = False, seed: int = 1234):
        super().__init__()
        self.folder = Path(run_dir) / "samples"
        self.rows, self.every, self.show, self.seed = rows, every, show, seed

    def on_train_begin(self, logs=None):
        if int(np.asarray(self.model.step)) == 0:
            self.save("step_00000000")

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        self.save(f"step_{int(np.asarray(self.model.step)):08d}")

    def save(self, name: str) -> Path:
        """Draw the grid with the EMA generator and write ``samples/<name>.png`` (and show it if asked)."""
        import matplotlib.pyplot as plt

        from helpers.plots import sample_sheet

        gan = self.model
        classes = gan.config.classes
        labels = np.tile(np.arange(len(classes)), self.rows)
        images = generate_images(gan.ema_generator, labels, self.seed, gan.config.latent_dim)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        fig = sample_sheet(images, classes, self.rows, path, title=f"step {int(np.asarray(gan.step))}")
        plt.close(fig)
        if self.show:
            from IPython.display import Image, display
            display(Image(filename=str(path)))
        return path


class Checkpointer(keras.callbacks.Callback):
    """Save the whole training state every ``every_steps`` steps and at the end, unless training diverged."""

    def __init__(self, folder, every_steps: int = 500):
        super().__init__()
        self.folder, self.every_steps = Path(folder), every_steps
        self.last: Path | None = None

    def _healthy(self, logs) -> bool:
        return not getattr(self.model, "diverged", None) and all(
            np.isfinite(float(v)) for k, v in (logs or {}).items() if k in ("d_loss", "g_loss"))

    def on_train_batch_end(self, batch, logs=None):
        step = int(np.asarray(self.model.step))
        if step % self.every_steps == 0 and self._healthy(logs):
            self.last = save_checkpoint(self.model, self.folder)

    def on_train_end(self, logs=None):
        if self._healthy(logs):
            self.last = save_checkpoint(self.model, self.folder)


class DivergenceGuard(keras.callbacks.Callback):
    """Stop on NaN/inf losses, or when the discriminator wins outright for ``patience`` steps."""

    def __init__(self, patience: int = 300, max_g_loss: float = 50.0):
        super().__init__()
        self.patience, self.max_g_loss = patience, max_g_loss
        self.bad_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        d, g = float(logs.get("d_loss", 0.0)), float(logs.get("g_loss", 0.0))
        step = int(np.asarray(self.model.step))
        if not (np.isfinite(d) and np.isfinite(g)):
            self._stop(f"loss became non-finite at step {step} (d_loss={d}, g_loss={g}). Usual causes: a "
                       "learning rate too high, or float16 overflow; lower g_lr/d_lr or set mixed_precision='off'.")
        elif g > self.max_g_loss:
            self.bad_steps += 1
            if self.bad_steps >= self.patience:
                self._stop(f"the discriminator has overpowered the generator for {self.patience} steps "
                           f"(g_loss={g:.1f} at step {step}). Try augmentation, a lower d_lr or R1.")
        else:
            self.bad_steps = 0

    def _stop(self, reason: str):
        self.model.diverged = reason
        self.model.stop_training = True


class Budget(keras.callbacks.Callback):
    """Stop at ``max_steps`` or after ``minutes``; every ``every`` epochs print progress, ETA and the losses."""

    def __init__(self, max_steps: int | None, minutes: float | None, verbose: bool = True, every: int = 1):
        super().__init__()
        self.max_steps, self.minutes, self.verbose, self.every = max_steps, minutes, verbose, max(1, every)

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.start_step = int(np.asarray(self.model.step))

    def on_train_batch_end(self, batch, logs=None):
        step = int(np.asarray(self.model.step))
        if self.max_steps is not None and step >= self.max_steps:
            self.model.stop_training = True
        if self.minutes is not None and time.perf_counter() - self.start >= 60 * self.minutes:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        step = int(np.asarray(self.model.step))
        done = self.max_steps is not None and step >= self.max_steps
        if not self.verbose or ((epoch + 1) % self.every and not done):
            return
        elapsed = time.perf_counter() - self.start
        rate = (step - self.start_step) / max(elapsed, 1e-9)
        left = []
        if self.max_steps is not None:
            left.append((self.max_steps - step) / max(rate, 1e-9))
        if self.minutes is not None:
            left.append(60 * self.minutes - elapsed)
        eta = f", ETA {max(min(left), 0) / 60:.1f} min" if left else ""
        shown = " ".join(f"{k} {float(v):.3f}" for k, v in (logs or {}).items()
                         if k in ("d_loss", "g_loss", "aux_fake", "d_acc_real", "d_acc_fake"))
        print(f"step {step}{f'/{self.max_steps}' if self.max_steps else ''}: {elapsed / 60:.1f} min elapsed, "
              f"{rate:.1f} steps/s{eta} | {shown}", flush=True)


class PeriodicEvaluation(keras.callbacks.Callback):
    """Call ``evaluate(gan) -> dict`` every ``every_seconds`` of *training* time (evaluation time excluded).

    Records ``{"step", "train_seconds", **result}`` in ``history``; stops training when
    ``stop_when(result)`` is true. Used for the fidelity-against-time curve.
    """

    def __init__(self, evaluate, every_seconds: float = 60.0, stop_when=None, verbose: bool = True):
        super().__init__()
        self.evaluate, self.every, self.stop_when, self.verbose = evaluate, every_seconds, stop_when, verbose
        self.history: list[dict] = []

    def on_train_begin(self, logs=None):
        self.train_seconds, self.next_at = 0.0, self.every
        self.t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.train_seconds += now - self.t
        if self.train_seconds >= self.next_at:
            self.next_at += self.every
            self.run()
        self.t = time.perf_counter()

    def run(self):
        """Evaluate now, record and maybe stop."""
        result = self.evaluate(self.model)
        record = {"step": int(np.asarray(self.model.step)), "train_seconds": round(self.train_seconds, 1), **result}
        self.history.append(record)
        if self.verbose:
            shown = {k: round(v, 3) for k, v in result.items() if isinstance(v, float)}
            print(f"  [eval] step {record['step']}, {self.train_seconds / 60:.2f} min of training: {shown}")
        if self.stop_when is not None and self.stop_when(result):
            self.model.stop_training = True


class StepEvaluation(PeriodicEvaluation):
    """:class:`PeriodicEvaluation` every ``every_steps`` optimiser steps instead of every so many seconds."""

    def __init__(self, evaluate, every_steps: int, stop_when=None, verbose: bool = True):
        super().__init__(evaluate, float("inf"), stop_when, verbose)
        self.every_steps = every_steps

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.train_seconds += now - self.t
        if int(np.asarray(self.model.step)) % self.every_steps == 0:
            self.run()
        self.t = time.perf_counter()


# --------------------------------------------------------------------------- strategy and the run

def pick_strategy(kind: str = "auto"):
    """A ``tf.distribute`` strategy: ``auto`` takes a Colab TPU, several GPUs (mirrored), or one device.

    ``kind`` may also be ``"mirrored"``, ``"default"`` or a strategy object.
    """
    import tensorflow as tf

    if not isinstance(kind, str):
        return kind
    if kind == "auto":
        if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"strategy {kind!r} is unknown; use auto, mirrored, default or a tf.distribute.Strategy")


def _load_or_save_config(run_dir: Path, config: GANConfig) -> GANConfig:
    path = run_dir / "config.json"
    if path.is_file() and latest_checkpoint(run_dir / "checkpoints"):
        try:
            saved = GANConfig.from_json(path.read_text())
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        if saved != config:
            diff = {f.name: (getattr(saved, f.name), getattr(config, f.name)) for f in dataclasses.fields(config)
                    if getattr(saved, f.name) != getattr(config, f.name)}
            raise CheckpointError(f"{run_dir} holds a run with other settings {diff} (saved, asked). "
                                  "Resume with the saved config.json, or choose a new RUN_DIR.")
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(config.to_json())
    return config


def train(data, run_dir, config: GANConfig | None = None, steps: int | None = None, epochs: int | None = None,
          minutes: float | None = None, strategy="auto", checkpoint_every: int = 500, sample_every: int = 1,
          show_samples: bool = False, callbacks=(), verbose: int = 1, export: bool = True, gan=None,
          progress: bool | None = None):
    """Train (or resume) a conditional GAN on ``data`` (a :class:`helpers.preprocess.CachedData`).

    ``gan``: a compiled or uncompiled ``ConditionalGAN`` built by the caller (notebook 04 passes
    the one its cells define, built after :func:`helpers.env.make_deterministic` seeded its initial weights);
    by default :func:`helpers.gan.build_gan` builds one from ``config`` inside the strategy's scope, seeded with
    ``config.seed``. Stops after ``steps`` optimiser steps, ``epochs`` passes over the
    training split, or ``minutes`` of training, whichever comes first (at least one must be given).
    If ``RUN_DIR/checkpoints`` holds a checkpoint, training resumes from it with the same data order
    and random draws. With ``verbose`` it prints progress and an ETA at every ``sample_every``-th
    epoch (``progress``, default: when ``verbose``; ``verbose`` is Keras' own per-epoch output).
    Returns the GAN.
    """
    from helpers.preprocess import make_dataset

    if steps is None and epochs is None and minutes is None:
        raise ValueError("give steps, epochs or minutes: training needs an end")
    progress = bool(verbose) if progress is None else progress
    if gan is not None:
        if config is not None and config != gan.config:
            raise ValueError("config and gan.config differ: pass one of them")
        config = gan.config
    config = config or GANConfig(image_size=data.size, classes=data.classes)
    if config.image_size != data.size or tuple(config.classes) != tuple(data.classes):
        raise ValueError(f"config is for {config.image_size}px and classes {config.classes}, data is "
                         f"{data.size}px with classes {data.classes}")
    run_dir = Path(run_dir)
    config = _load_or_save_config(run_dir, config)
    if gan is None:
        from helpers.gan import build_gan

        keras.utils.set_random_seed(config.seed)
        strategy = pick_strategy(strategy)
        with strategy.scope():
            gan = build_gan(config)
            gan.compile()
    elif getattr(gan, "d_optimizer", None) is None:
        gan.compile()
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    start = restore_checkpoint(gan, checkpoint) if checkpoint else 0
    if checkpoint and progress:
        print(f"resuming from {checkpoint.name} (step {start})")
    rows, _ = data.split("train")
    steps_per_epoch = max(1, len(rows) // config.batch_size)
    limits = [x for x in (steps, epochs * steps_per_epoch if epochs else None) if x is not None]
    max_steps = min(limits) if limits else None  # None: only the time budget ends training
    if max_steps is not None and start >= max_steps:
        print(f"already trained {start} of {max_steps} steps")
        if export:
            export_generator(gan, run_dir)
        return gan
    dataset = make_dataset(data, "train", config.batch_size, balanced=config.balanced, repeat=True,
                           seed=config.seed, skip_batches=start)
    guard = DivergenceGuard()
    checkpointer = Checkpointer(run_dir / "checkpoints", checkpoint_every)
    all_callbacks = [Budget(max_steps, minutes, verbose=progress, every=sample_every), guard,
                     checkpointer, SampleGrid(run_dir, every=sample_every, show=show_samples),
                     keras.callbacks.CSVLogger(str(run_dir / "losses.csv"), append=True), *callbacks]
    try:
        import tensorboard  # noqa: F401  (the callback needs it; Colab has it)
        all_callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), update_freq=50,
                                                         write_graph=False))
    except ImportError:
        print("tensorboard is not installed: logging losses to CSV only (pip install tensorboard)")
    if max_steps is not None and progress:
        print(f"training steps {start} -> {max_steps} ({steps_per_epoch} per epoch); the first progress line "
              "gives the time estimate")
    total_epochs = math.ceil(max_steps / steps_per_epoch) if max_steps else 10 ** 6
    gan.fit(dataset, epochs=max(total_epochs, start // steps_per_epoch + 1), steps_per_epoch=steps_per_epoch,
            initial_epoch=start // steps_per_epoch, callbacks=all_callbacks, verbose=verbose or 0,
            shuffle=False)  # the pipeline shuffles, reproducibly
    if getattr(gan, "diverged", None):
        last = latest_checkpoint(run_dir / "checkpoints")
        raise TrainingDiverged(f"{gan.diverged} Last good checkpoint: {last or 'none'}")
    if int(np.asarray(gan.step)) < config.transition_end:
        print(f"warning: training stopped at step {int(np.asarray(gan.step))}, before transitional conditioning "
              f"reaches full strength (transition_end={config.transition_end}): the generator follows its labels "
              "only partly. Train longer, or lower transition_start and transition_end (transition_end=0 "
              "switches the transition off).")
    if export:
        export_generator(gan, run_dir)
    return gan
