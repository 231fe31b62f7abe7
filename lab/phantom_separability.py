"""Are the phantoms' findings learnable, and not a brightness code? A CNN trained from scratch, and a histogram model.

    python lab/phantom_separability.py [--per-class 700] [--seed 11]

Draws ``--per-class`` training and 150 held-out phantoms per condition at 64 px, trains the course CNN
(``helpers.classifier.train_classifier``, width 16 as notebook 04's judge, 10 epochs) and a small dense network
on 32-bin intensity histograms, and writes both held-out accuracies to results/phantoms/. About two minutes on a
2-core CPU, which is why ``make test`` checks learnability with the shipped judge instead
(tests/test_phantoms.py).
"""

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `lab` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from helpers import CLASSES  # noqa: E402
from helpers.phantoms import generate_arrays  # noqa: E402
from lab.results import add_result_options, save_result, slug  # noqa: E402


def histogram_accuracy(x_train, y_train, x_test, y_test, seed: int = 0) -> tuple[float, float]:
    """``(training, held-out)`` accuracy of a dense network that sees only each image's 32-bin intensity histogram."""
    import keras

    def hist(x):
        return np.stack([np.bincount(im.ravel() // 8, minlength=32) for im in x]).astype(np.float32) / x[0].size

    h_train, h_test = hist(x_train), hist(x_test)
    mean, std = h_train.mean(0), h_train.std(0) + 1e-6
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(len(CLASSES))])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit((h_train - mean) / std, y_train, epochs=60, batch_size=64, verbose=0)
    return (float(model.evaluate((h_train - mean) / std, y_train, verbose=0)[1]),
            float(model.evaluate((h_test - mean) / std, y_test, verbose=0)[1]))


def main() -> None:
    """Train both models on fresh phantoms and write their held-out accuracies."""
    from helpers.classifier import predict_classes, to_model_range, train_classifier

    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=700)
    parser.add_argument("--seed", type=int, default=11, help="seed of the phantoms (the shipped judge saw seed 0)")
    add_result_options(parser)
    args = parser.parse_args()
    per_test = 150
    labels = np.repeat(np.arange(len(CLASSES)), args.per_class + per_test)
    images = generate_arrays([CLASSES[i] for i in labels], 64, seed=args.seed)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    n = args.per_class * len(CLASSES)
    start = time.perf_counter()
    model = train_classifier(to_model_range(images[:n]), labels[:n], epochs=10, seed=0, width=16)
    cnn = float((predict_classes(model, to_model_range(images[n:])).argmax(1) == labels[n:]).mean())
    cnn_seconds = time.perf_counter() - start
    _, histogram = histogram_accuracy(images[:n], labels[:n], images[n:], labels[n:])
    print(f"CNN held out: {cnn:.3f} ({cnn_seconds:.0f} s) | histogram model held out: {histogram:.3f} "
          f"| chance {1 / len(CLASSES):.3f}")
    save_result(args, "phantoms", slug([f"per_class={args.per_class}", f"seed={args.seed}"]),
                {"small_cnn_held_out_accuracy": cnn, "small_cnn_seconds": cnn_seconds,
                 "intensity_histogram_classifier_accuracy": histogram, "chance": 1 / len(CLASSES),
                 "histogram_bins": 32},
                seeds=[args.seed, 0], data={"source": "phantom", "image_size": 64, "per_class_train": args.per_class,
                                             "per_class_test": per_test},
                notes="course CNN width 16, 10 epochs; dense network on 32-bin histograms, 60 epochs")


if __name__ == "__main__":
    main()
