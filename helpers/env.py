"""Where am I running? Colab / GPU detection and paths for the notebooks' Setup cells."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: Where the course lives; the Colab badges and the Colab install cell point here.
REPO = "cxr-gan-course/cxr-gan-course"
#: The branch (or tag) that the Colab badges open and the Setup cells install the package from:
#: the same ref in both, so a notebook and its helpers match. A release sets both to its tag.
PINNED_REF = "main"
SMOKE_ENV = "CXR_GAN_SMOKE"
#: When set, replaces the notebooks' default ``RUN_DIR = "runs/course"`` (an explicit RUN_DIR wins).
RUN_DIR_ENV = "CXR_GAN_RUN_DIR"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def project_dir() -> Path:
    """The repository root when running inside a checkout, else the current folder (Colab)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "helpers").is_dir():
            return folder
    return here


def resolve(path, default: str) -> Path:
    """``path`` (or ``default`` when None/empty) made absolute against :func:`project_dir`."""
    p = Path(path or default).expanduser()
    return p if p.is_absolute() else project_dir() / p


def smoke_mode(flag: bool = False) -> bool:
    """Smoke mode (tiny data, few steps) if asked for, or if ``CXR_GAN_SMOKE=1`` (set by CI for nbval)."""
    return bool(flag) or os.environ.get(SMOKE_ENV, "") == "1"


def describe_runtime(verbose: bool = True) -> dict:
    """Print and return Python / TensorFlow / Keras versions, Colab and GPU status.

    When no GPU is found it says how to turn one on, since training notebooks are
    slow without one.
    """
    info = {"python": platform.python_version(), "colab": in_colab(), "gpus": []}
    try:
        import keras
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["keras"] = keras.__version__
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except ImportError:
        info["tensorflow"] = None
    if verbose:
        print(f"Python {info['python']} | TensorFlow {info.get('tensorflow')} | Keras {info.get('keras')} | "
              f"Colab: {'yes' if info['colab'] else 'no'}")
        if info["gpus"]:
            print(f"GPU: {', '.join(info['gpus'])}")
        elif info["colab"]:
            print("No GPU. In Colab: Runtime > Change runtime type > T4 GPU, then rerun this cell.")
        else:
            print("No GPU found: everything runs on the CPU (fine for notebooks 01-03 and smoke runs).")
    return info


def make_deterministic(seed: int, ops: bool = True) -> None:
    """Seed every random generator from ``seed`` and, with ``ops``, turn TensorFlow's op determinism on.

    Seeds Python's ``random``, NumPy's global generator, TensorFlow's global seed and Keras' global
    ``SeedGenerator`` (``keras.utils.set_random_seed``): layers built afterwards get the same initial
    weights in every run. ``ops=True`` also calls ``tf.config.experimental.enable_op_determinism()``:
    every op gives the same output for the same input on the same machine (on a GPU some kernels switch
    to slower deterministic algorithms; one without such an algorithm raises ``UnimplementedError``), and
    ``tf.data`` keeps its order and runs map functions with stateful random ops one element at a time;
    Keras then compiles no model with XLA (``jit_compile`` resolves to off, even when asked for, so a GPU
    trains without XLA) and TensorFlow refuses unseeded random ops unless a global seed is set (it is here).
    The course's own randomness (the GAN's noise and augmentation, its data order) is stateless or
    explicitly seeded, so the two together make a run repeat bit for bit on the same machine and
    software versions; not across machines, CPU and GPU, or TensorFlow versions.

    Idempotent: calling it again reseeds to the same state. Op determinism cannot be turned off in a
    process once on (TensorFlow has no public way back): restart the kernel or Python to run without it.
    """
    import keras

    keras.utils.set_random_seed(int(seed))
    if ops:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on in this process (False when TensorFlow was never imported)."""
    if "tensorflow" not in sys.modules:
        return False
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())


#: Where ``DRIVE = True`` keeps run folders in Colab: ``<Drive root>/MyDrive/<this>/<RUN_DIR's name>``.
DRIVE_FOLDER = "cxr-gan-course"
#: Where Colab mounts Google Drive.
DRIVE_ROOT = "/content/drive"


def _mount_drive(root: str) -> None:
    """Mount Google Drive at ``root`` (Colab asks for permission once per runtime)."""
    from google.colab import drive  # only importable inside Colab

    drive.mount(root)


def drive_run_dir(run_dir, drive: bool, colab: bool | None = None, mount=None, root=DRIVE_ROOT):
    """``RUN_DIR`` moved onto Google Drive when ``drive`` (a notebook's ``DRIVE``) is True in Colab.

    A Colab runtime forgets its files when it disconnects, and notebooks 04 and 05 opened from their badges
    run in separate runtimes: a run folder on Drive is what they share. In Colab (``colab``, default
    :func:`in_colab`) Drive is mounted at ``root`` unless it already is (``mount(root)``, default
    ``google.colab.drive.mount``) and the result is ``root/MyDrive/cxr-gan-course/<RUN_DIR's folder name>``
    (``runs/course`` becomes ``.../cxr-gan-course/course``); a RUN_DIR already under ``root`` is kept.
    Outside Colab it prints why nothing changes and returns ``run_dir`` as it is; so does ``drive=False``.
    """
    if not drive:
        return run_dir
    colab = in_colab() if colab is None else colab
    if not colab:
        print(f"DRIVE = True works only in Google Colab (Drive is mounted there); here RUN_DIR stays {run_dir}")
        return run_dir
    root = Path(root)
    run_dir = Path(run_dir or "runs/course")
    if run_dir.is_absolute() and run_dir.is_relative_to(root):
        return run_dir
    if not (root / "MyDrive").is_dir():
        (mount or _mount_drive)(str(root))
        if not (root / "MyDrive").is_dir():
            raise RuntimeError(f"Google Drive did not mount: {root / 'MyDrive'} is missing. Allow access when "
                               "Colab asks, or set DRIVE = False (the run then lives in this runtime only)")
    on_drive = root / "MyDrive" / DRIVE_FOLDER / run_dir.name
    print(f"DRIVE = True: RUN_DIR is on Google Drive, {on_drive}; notebooks 04 and 05 opened in other runtimes "
          "share it when they set DRIVE = True and the same RUN_DIR")
    return on_drive


def phantom_folder(image_size: int, phantoms_per_class: int, seed: int) -> Path:
    """The folder of one phantom dataset: ``data/phantoms-<size>px-<n>pc-seed<seed>`` under the project."""
    return resolve(None, f"data/phantoms-{image_size}px-{phantoms_per_class}pc-seed{seed}")


def notebook_settings(data_source: str, data_dir, image_size: int, run_dir, smoke: bool,
                      phantoms_per_class: int, seed: int, return_source: bool = False,
                      deterministic: bool | None = None, drive: bool = False):
    """Resolve a notebook's parameters: ``(smoke, run_dir, data_dir, phantoms_per_class)``.

    Smoke mode caps the phantom count at 30 per class and uses its own phantom folder,
    so a smoke run never leaves a tiny dataset where a real run would pick it up.
    The run folder is created.

    ``data_source`` is one of :data:`helpers.data.SOURCES`. ``"auto"`` is decided here by
    :func:`helpers.data.resolve_source` (ChestMNIST when it is on disk or downloadable,
    else the phantoms; always the phantoms in smoke mode, which must stay offline and
    fast) and the decision is stored in ``RUN_DIR/data_source.json``, so every notebook of
    one run reads the same data; ``load_dataset("auto", data_dir)`` later in the same
    process keeps it too. ``"folder"`` and ``"nih"`` need ``data_dir``. With
    ``return_source=True`` the concrete source is returned as a fifth value, for notebooks
    that branch on it: ``(smoke, run_dir, data_dir, phantoms_per_class, source)``.

    ``drive`` (a notebook's ``DRIVE``): in Colab, keep the run folder on Google Drive (:func:`drive_run_dir`).

    ``deterministic`` (a notebook's ``DETERMINISTIC``): ``True`` seeds everything from ``seed`` and
    turns op determinism on (:func:`make_deterministic`), so the notebook repeats bit for bit on the same
    machine; ``False`` only seeds; ``None`` (callers that are not notebooks: the course runner, tests)
    leaves the process as it is.
    """
    from helpers.data import SOURCES, resolve_source

    if data_source not in SOURCES:
        raise ValueError(f"DATA_SOURCE={data_source!r} is unknown; use one of {', '.join(SOURCES)}")
    if data_source in ("nih", "folder") and not data_dir:
        what = ("the folder with the NIH metadata CSV and images_* folders" if data_source == "nih" else
                "a folder with one sub-folder of images per condition, optionally under train/val/test folders")
        raise ValueError(f"DATA_SOURCE={data_source!r} needs DATA_DIR: {what}")
    smoke = smoke_mode(smoke)
    if smoke:
        phantoms_per_class = min(phantoms_per_class, 30)
    phantom_dir = phantom_folder(image_size, phantoms_per_class, seed)
    if os.environ.get(RUN_DIR_ENV) and str(run_dir or "runs/course") == "runs/course":
        run_dir = os.environ[RUN_DIR_ENV]  # make test: nbval's runs never touch (or reuse) a real run folder
    run_dir = resolve(drive_run_dir(run_dir, drive), "runs/course")
    run_dir.mkdir(parents=True, exist_ok=True)
    source = data_source
    if data_source == "auto":
        choice = resolve_source("auto", resolve(data_dir, "data/chestmnist"), image_size,
                                phantom_dir=phantom_dir, offline="smoke mode" if smoke else None,
                                record=run_dir / "data_source.json")
        source, folder = choice.source, Path(choice.data_dir)
        folder = folder if folder.is_absolute() else resolve(folder, "")
    else:
        defaults = {"phantom": phantom_dir, "chestmnist": "data/chestmnist", "nih": "data/nih", "folder": ""}
        folder = resolve(data_dir, defaults[data_source])
    shown = f"auto -> {source}" if data_source == "auto" else source
    shown_det = "" if deterministic is None else f" | DETERMINISTIC={bool(deterministic)}"
    print(f"DATA_SOURCE={shown} | DATA_DIR={folder} | IMAGE_SIZE={image_size} | SMOKE={smoke} | RUN_DIR={run_dir}"
          + shown_det)
    if deterministic is not None:
        make_deterministic(seed, ops=bool(deterministic))
        if not deterministic and op_determinism_enabled():
            print("DETERMINISTIC=False, but op determinism was turned on earlier in this process and stays on "
                  "(it cannot be turned off): restart the kernel to run without it")
    if return_source:
        return smoke, run_dir, folder, phantoms_per_class, source
    return smoke, run_dir, folder, phantoms_per_class
