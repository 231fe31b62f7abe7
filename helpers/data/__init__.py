"""Reading chest X-ray data the way learners actually have it.

Four sources, one shape of result (a table with one row per usable image):

- **NIH ChestX-ray14** in the NIH / Kaggle layout: a metadata CSV
  (``Data_Entry_2017_v2020.csv``, ``Data_Entry_2017.csv`` with its trailing comma,
  or the Kaggle sample's ``sample_labels.csv``) beside PNGs under
  ``images_*/images/`` or in one flat folder. Partial downloads are normal: the
  images present are used and the missing ones are counted.
- **MedMNIST+ ChestMNIST** ``.npz`` files (64, 128 or 224 px), downloaded from the
  official Zenodo record with an MD5 check, no PyTorch needed.
- **Phantoms** (:mod:`helpers.phantoms`), written in the NIH layout, so they are
  read by the same NIH loader.
- **Class folders** (``DATA_SOURCE="folder"``): the layout of
  ``keras.utils.image_dataset_from_directory`` and most Kaggle sets, one folder of
  images per condition, optionally under ``train``/``val``/``test`` folders; the
  conditions are the folder names (:func:`load_folder`).

``DATA_SOURCE="auto"`` picks one (:func:`resolve_source`): ChestMNIST when it is on disk
or can be downloaded, the phantoms otherwise.

Splits are by patient: no patient appears in two splits (for class folders, wherever
the file names carry a patient id; see :data:`PATIENT_PATTERNS`).

Command line: ``python -m helpers.data DATA_DIR`` summarises a dataset folder from its
metadata or file listing (images per condition, present and missing, patients, splits)
without decoding a single image.

Data credit: NIH Clinical Center, https://nihcc.app.box.com/v/ChestXray-NIHCC ;
Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM, "ChestX-ray8: Hospital-scale
Chest X-ray Database and Benchmarks on Weakly-Supervised Classification and
Localization of Common Thorax Diseases", IEEE CVPR 2017.

Modules, one role each (``from helpers.data import X`` reaches every public name):

- :mod:`helpers.data.common`      the errors, NIH's label names, class checks, the load report, patient checks
- :mod:`helpers.data.lock`        the file lock around work two processes must not do at once
- :mod:`helpers.data.images`      image files: find the PNGs, decode to 8-bit gray, read a PNG header
- :mod:`helpers.data.nih`         the NIH layout: metadata, class selection, patient splits, load, write, download
- :mod:`helpers.data.chestmnist`  ChestMNIST ``.npz`` files: read, download with an MD5 check, reachability
- :mod:`helpers.data.folders`     class folders: scan, patient ids from file names, split, summarise, load
- :mod:`helpers.data.sources`     :data:`SOURCES` (every ``DATA_SOURCE`` value) and the ``"auto"`` decision
- :mod:`helpers.data.summary`     dataset summaries and the command line
"""

from __future__ import annotations

from helpers.data.chestmnist import (CHESTMNIST_FILES, CHESTMNIST_GB, CHESTMNIST_LABELS, chestmnist_conditions,
                                     chestmnist_file_size, chestmnist_reachable, download_chestmnist,
                                     find_chestmnist_npz, load_chestmnist_npz, md5sum)
from helpers.data.common import (NIH_LABELS, DataError, ImageReadError, LoadReport, assert_patient_disjoint,
                                 check_classes, patient_ids_known)
from helpers.data.folders import (IMAGE_SUFFIXES, PATIENT_PATTERNS, SPLITS, SPLIT_FOLDERS, folder_listing_digest,
                                  folder_summary_lines, load_folder, patient_from_filename, scan_image_folder,
                                  split_folder_dataset, summarise_folder)
from helpers.data.images import index_images, open_gray8, png_header, read_gray8
from helpers.data.lock import file_lock
from helpers.data.nih import (METADATA_NAME, METADATA_NAMES, NIH_HEADER, NIH_KAGGLE_DATASET, NIH_SINGLE_LABEL_COUNTS,
                              download_nih, find_metadata, load_nih, read_nih_metadata, select_classes,
                              split_by_patient, write_nih_metadata)
from helpers.data.sources import OFFLINE_ENV, SOURCES, SourceChoice, resolve_source
from helpers.data.summary import main, summarise_chestmnist, summarise_nih, summary_lines, summary_table

__all__ = [
    "CHESTMNIST_FILES", "CHESTMNIST_GB", "CHESTMNIST_LABELS", "chestmnist_conditions", "chestmnist_file_size",
    "chestmnist_reachable", "download_chestmnist", "find_chestmnist_npz", "load_chestmnist_npz", "md5sum",
    "NIH_LABELS", "DataError", "ImageReadError", "LoadReport", "assert_patient_disjoint", "check_classes",
    "patient_ids_known", "IMAGE_SUFFIXES", "PATIENT_PATTERNS", "SPLITS", "SPLIT_FOLDERS", "folder_listing_digest",
    "folder_summary_lines", "load_folder", "patient_from_filename", "scan_image_folder", "split_folder_dataset",
    "summarise_folder", "index_images", "open_gray8", "png_header", "read_gray8", "file_lock", "METADATA_NAME",
    "METADATA_NAMES", "NIH_HEADER", "NIH_KAGGLE_DATASET", "NIH_SINGLE_LABEL_COUNTS", "download_nih", "find_metadata",
    "load_nih", "read_nih_metadata", "select_classes", "split_by_patient", "write_nih_metadata", "OFFLINE_ENV",
    "SOURCES", "SourceChoice", "resolve_source", "main", "summarise_chestmnist", "summarise_nih", "summary_lines",
    "summary_table",
]
