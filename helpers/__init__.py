"""Shared code for the course *Synthetic chest X-rays with conditional GANs*.

Every notebook imports this package; notebooks hold the teaching, this package
holds the reusable code. Modules:

- ``helpers.data``       NIH ChestX-ray14 / ChestMNIST readers, class selection, patient splits
- ``helpers.phantoms``   offline procedural chest-radiograph phantoms in the NIH layout
- ``helpers.preprocess`` parallel decode-and-resize into a uint8 cache, and the tf.data pipeline
- ``helpers.classifier`` the small CNN used to check that conditions are learnable / generated
- ``helpers.models``     conditioned generators and discriminators (prototype and recommended)
- ``helpers.training``   the ConditionalGAN train_step, callbacks, checkpoints, export
- ``helpers.generate``   write a synthetic dataset in the NIH layout from a generator
- ``helpers.metrics``    FID, KID, precision/recall, density/coverage on feature vectors
- ``helpers.course``     run the numbered notebooks headless with papermill
- ``helpers.env``        Colab / GPU detection for the notebooks' Setup cells
- ``helpers.plots``      image grids and other figures shared by notebooks
- ``helpers.explore``    metadata tables for notebook 01

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
