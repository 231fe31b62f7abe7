"""Shared code for the course *Synthetic chest X-rays with conditional GANs*.

Every notebook imports this package; notebooks hold the teaching, this package
holds the reusable code. Modules:

- ``helpers.data``       the data sources (NIH layout, ChestMNIST, class folders), ``SOURCES``, splits, summaries
- ``helpers.phantoms``   offline procedural chest-radiograph phantoms in the NIH layout
- ``helpers.preprocess`` parallel decode-and-resize into a uint8 cache, and the tf.data pipeline
- ``helpers.models``     the conditioning layers, generator and discriminator (made from notebook 03's cells)
- ``helpers.gan``        losses, DiffAugment, the ConditionalGAN train_step (made from notebook 04's cells)
- ``helpers.config``     GANConfig: every setting of a training run
- ``helpers.training``   callbacks, checkpoints and exact resume, strategies, the ``fit`` runner
- ``helpers.generate``   sample, export and load generators; the shipped pretrained models; NIH-layout export
- ``helpers.prototype``  the original prototype's models and train_on_batch loop, for comparison
- ``helpers.classifier`` the small CNN that judges generated images and learns from real ones
- ``helpers.metrics``    FID, KID, precision/recall, density/coverage, AUROC and classification scores
- ``helpers.evaluate``   label fidelity, realism, diversity, memorisation audit, report
- ``helpers.utility``    train on synthetic, test on real: the utility study of notebook 05
- ``helpers.course``     run the numbered notebooks headless with papermill
- ``helpers.env``        Colab / GPU detection for the notebooks' Setup cells
- ``helpers.plots``      image grids and other figures shared by notebooks
- ``helpers.explore``    metadata tables for notebook 01

``helpers.models`` and ``helpers.gan`` are written by ``tools/notebooks.py export`` from the
notebook cells marked ``#| export``: edit the notebooks, not those two files.

The synthetic images this course produces are for teaching and research, not for
clinical use.
"""

__version__ = "0.1.0"

#: The seven conditions the course generates, in label-index order.
CLASSES = (
    "No Finding",
    "Atelectasis",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumothorax",
)
