"""Evaluating a trained generator: realistic, right condition, useful, private (notebook 05).

Building blocks, each usable on its own:

- feature extractors: :func:`classifier_extractor` (the course's own CNN trained on the
  real training split; works offline) and :func:`inception_extractor` (Keras InceptionV3
  with ImageNet weights at 299 px, where the weights can be downloaded);
- :func:`realism`: FID, KID, precision/recall, density/coverage on one extractor's features;
- :func:`ms_ssim_diversity`: how varied the images of one condition are;
- :func:`label_fidelity`: does the course classifier see the condition each image was asked for?
- :func:`helpers.utility.utility_study` (its own module): train on synthetic / real + synthetic, test on real;
- :func:`memorisation_audit`: nearest-neighbour distances to the training set;
- :func:`write_report`: ``metrics.json`` and ``report.md`` for a run folder.

Images are float arrays in [-1, 1] shaped ``(N, S, S, 1)`` (the GAN's range) unless a
function says otherwise; :func:`helpers.classifier.to_model_range` converts uint8.
The scores themselves (FID, KID, AUROC, confusion matrices) live in :mod:`helpers.metrics`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from helpers import metrics as _metrics

#: MS-SSIM weights of the five scales (Wang et al., 2003), finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

INCEPTION_NOTE = ("Keras InceptionV3 (ImageNet weights, 2048-d average pool, 299 px): not comparable "
                  "with the TF1 `pool_3` FID reported in papers")


# --------------------------------------------------------------------------- feature extractors

def classifier_extractor(classifier):
    """A model mapping images to the ``features`` layer of a :func:`helpers.classifier.build_classifier` CNN."""
    import keras

    try:
        layer = classifier.get_layer("features")
    except ValueError:
        raise ValueError(f"model {classifier.name!r} has no layer named 'features'; "
                         "build it with helpers.classifier.build_classifier") from None
    return keras.Model(classifier.inputs, layer.output, name=f"{classifier.name}_features")


def inception_extractor(weights: str | None = "imagenet"):
    """Keras InceptionV3 without its top, average-pooled to 2048 features, for 299 px RGB input.

    Use :func:`extract_features`, which resizes gray images to 299 px and repeats the
    channel. ``weights=None`` builds the network untrained (for tests only: its numbers
    mean nothing). Raises ``RuntimeError`` with the offline alternative when the
    ImageNet weights cannot be downloaded.
    """
    import keras

    try:
        return keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                              input_shape=(299, 299, 3))
    except Exception as exc:  # download errors come as several exception types
        raise RuntimeError(f"InceptionV3 ImageNet weights could not be loaded ({type(exc).__name__}: {exc}). "
                           "They need internet access (Colab has it). Offline, use the course classifier's "
                           "features: EXTRACTOR = 'classifier'.") from exc


def extract_features(extractor, images, batch_size: int = 128) -> np.ndarray:
    """Features ``(N, D)`` (float64) of images in [-1, 1]; resizes and repeats channels as the extractor needs."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    height, width, channels = extractor.input_shape[1:]
    out = []
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start:start + batch_size])
        if x.shape[1] != height or x.shape[2] != width:
            x = tf.image.resize(x, (height, width), method="bilinear")
        if channels != x.shape[-1]:
            x = tf.repeat(x, channels, axis=-1)  # InceptionV3's preprocessing maps to [-1, 1]: ours already is
        out.append(np.asarray(extractor(x, training=False), np.float64))
    dim = extractor.output_shape[-1]
    return np.concatenate(out) if out else np.zeros((0, dim))


# --------------------------------------------------------------------------- realism and diversity

def realism(real_features, fake_features, kid_subsets: int = 10, kid_subset_size: int = 1000,
            k: int = 5, seed: int = 0) -> dict:
    """FID, KID (mean, std), precision/recall and density/coverage of two feature sets, with their sizes."""
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    kid_mean, kid_std = _metrics.kid(real_features, fake_features, kid_subsets, kid_subset_size, seed)
    pr = _metrics.precision_recall(real_features, fake_features, k=k)
    dc = _metrics.density_coverage(real_features, fake_features, k=k)
    return {"fid": _metrics.fid(real_features, fake_features), "kid_mean": kid_mean, "kid_std": kid_std,
            "precision": pr["precision"], "recall": pr["recall"], "density": dc["density"],
            "coverage": dc["coverage"], "k": k, "n_real": len(real_features), "n_fake": len(fake_features),
            "feature_dim": int(real_features.shape[1])}


def ms_ssim_scales(image_size: int, filter_size: int = 11) -> int:
    """How many MS-SSIM scales fit: the coarsest must still be at least ``filter_size`` pixels (max 5)."""
    scales = 1
    while scales < 5 and image_size // 2 ** scales >= filter_size:
        scales += 1
    return scales


def ms_ssim(a, b) -> np.ndarray:
    """MS-SSIM of image pairs ``a[i]``, ``b[i]`` in [-1, 1]; as many scales as the size allows.

    The standard five weights are truncated to the scales used and renormalised, so a
    64 px image uses three scales (64, 32, 16 px).
    """
    import tensorflow as tf

    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim == 3:
        a, b = a[..., None], b[..., None]
    weights = np.array(MS_SSIM_WEIGHTS[:ms_ssim_scales(a.shape[1])])
    weights = (weights / weights.sum()).tolist()
    return tf.image.ssim_multiscale(a, b, max_val=2.0, power_factors=weights).numpy()


def ms_ssim_diversity(images, labels, num_classes: int, pairs: int = 100, seed: int = 0) -> list:
    """Per class, the mean MS-SSIM of ``pairs`` random pairs of different images of that class.

    Lower means more varied. Compare generated with real images of the same class:
    generated images clearly above the real value are a sign of mode collapse.
    A class with fewer than two images gets ``nan``.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            out.append(float("nan"))
            continue
        first = rng.choice(idx, pairs)
        second = rng.choice(idx, pairs)
        clash = first == second
        while clash.any():  # a pair of an image with itself would score 1
            second[clash] = rng.choice(idx, int(clash.sum()))
            clash = first == second
        out.append(float(ms_ssim(images[first], images[second]).mean()))
    return out


# --------------------------------------------------------------------------- right condition: label fidelity

def label_fidelity(generator, classifier, num_classes: int = 7, per_class: int = 100, seed: int = 0,
                   latent_dim: int | None = None) -> dict:
    """Share of generated images that ``classifier`` assigns to the condition they were asked for.

    Draws ``per_class`` images of every condition from fixed-seed noise with
    :func:`helpers.generate.generate_images`. Returns ``{"fidelity", "per_class" (list),
    "confusion" (C x C, rows: asked, columns: predicted)}``.
    """
    from helpers.classifier import predict_classes
    from helpers.generate import generate_images

    labels = np.repeat(np.arange(num_classes), per_class)
    images = generate_images(generator, labels, seed, latent_dim)
    scores = _metrics.classification_scores(predict_classes(classifier, images), labels, num_classes)
    return {"fidelity": scores["accuracy"], "per_class": scores["per_class_accuracy"],
            "confusion": scores["confusion"]}


# --------------------------------------------------------------------------- privacy: memorisation audit

def nearest_neighbours(queries, reference, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance and index of each query's nearest row of ``reference``, in chunks (no N x M matrix)."""
    if len(reference) == 0:
        raise ValueError("the reference set is empty: nothing to measure distances to")
    queries = np.asarray(queries, np.float32).reshape(len(queries), -1)
    reference = np.asarray(reference).reshape(len(reference), -1)
    best = np.full(len(queries), np.inf, np.float64)
    index = np.zeros(len(queries), np.int64)
    q_sq = (queries.astype(np.float64) ** 2).sum(1)
    for r0 in range(0, len(reference), chunk):
        ref = np.asarray(reference[r0:r0 + chunk], np.float32)
        r_sq = (ref.astype(np.float64) ** 2).sum(1)
        for q0 in range(0, len(queries), chunk):
            q = queries[q0:q0 + chunk]
            d2 = q_sq[q0:q0 + chunk, None] + r_sq[None, :] - 2.0 * (q @ ref.T).astype(np.float64)
            j = d2.argmin(1)
            d = d2[np.arange(len(q)), j]
            better = d < best[q0:q0 + chunk]
            best[q0:q0 + chunk][better] = d[better]
            index[q0:q0 + chunk][better] = j[better] + r0
    return np.sqrt(np.clip(best, 0, None)), index


def memorisation_audit(train, test, synthetic, quantile: float = 0.01, synthetic_labels=None,
                       num_classes: int | None = None, test_labels=None) -> dict:
    """Are synthetic images closer to training images than unseen real images are? With a verdict.

    ``train``, ``test`` and ``synthetic`` are arrays in one space (pixels or features),
    one row (or image) per sample. The threshold is the ``quantile`` (1%) of the test
    images' nearest-training-image distances: a test image is that close to a training
    image only 1% of the time by chance. The share of synthetic images under it should
    be about the same; much more means copies of training images.

    ``test`` holds :func:`helpers.verdicts.copy_test` of all synthetic images against the
    expected rate (the test split's own share under the line, at least ``quantile``); with
    ``synthetic_labels``, ``per_condition`` holds the same test per condition (alpha divided
    by the number of conditions); with ``test_labels`` too, each condition is tested against its
    own test images' share under the line (at least ``quantile``), since the images of one
    condition can sit naturally closer to the training set than others (phantoms without a
    finding look alike). ``copies`` is True when any of them says so.
    """
    from helpers.verdicts import ALPHA, copy_test

    d_test, _ = nearest_neighbours(test, train)
    d_syn, idx_syn = nearest_neighbours(synthetic, train)
    threshold = float(np.quantile(d_test, quantile))
    share_test = float((d_test < threshold).mean())
    expected = max(share_test, quantile)
    below = d_syn < threshold
    out = {"threshold": threshold, "quantile": quantile,
           "share_synthetic_below": float(below.mean()), "share_test_below": share_test,
           "median_synthetic": float(np.median(d_syn)), "median_test": float(np.median(d_test)),
           "n_train": len(train), "n_test": len(test), "n_synthetic": len(synthetic),
           "test": copy_test(int(below.sum()), len(below), expected)}
    out["copies"] = out["test"]["copies"]
    if synthetic_labels is not None:
        labels = np.asarray(synthetic_labels)
        k = num_classes or int(labels.max()) + 1
        near_test = d_test < threshold
        rates = [expected] * k
        if test_labels is not None:
            test_labels = np.asarray(test_labels)
            rates = [max(float(near_test[test_labels == c].mean()), quantile) if (test_labels == c).any()
                     else expected for c in range(k)]
        out["per_condition"] = [copy_test(int(below[labels == c].sum()), int((labels == c).sum()), rates[c],
                                          ALPHA / k) if (labels == c).any() else None for c in range(k)]
        out["copies"] = out["copies"] or any(t and t["copies"] for t in out["per_condition"])
    out.update({"synthetic_distances": d_syn, "synthetic_nearest": idx_syn, "test_distances": d_test})
    return out


# --------------------------------------------------------------------------- latent walks

def slerp(z0, z1, t):
    """Spherical interpolation between two latent vectors (stays on the Gaussian's typical shell)."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cos = np.clip(z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1)), -1.0, 1.0)
    omega = math.acos(cos)
    if omega < 1e-6:
        return (1 - t) * z0 + t * z1
    return (math.sin((1 - t) * omega) * z0 + math.sin(t * omega) * z1) / math.sin(omega)


def latent_walk(generator, label: int, steps: int = 7, seed: int = 0) -> np.ndarray:
    """Images along a spherical path between two random latent vectors, for one condition."""
    latent_dim = generator.inputs[0].shape[-1]
    rng = np.random.default_rng(seed)
    z0, z1 = rng.standard_normal((2, latent_dim))
    z = np.stack([slerp(z0, z1, t) for t in np.linspace(0, 1, steps)]).astype(np.float32)
    return np.asarray(generator([z, np.full(steps, label, np.int32)], training=False))


def class_sweep(generator, num_classes: int, rows: int = 3, seed: int = 0) -> np.ndarray:
    """``(rows, num_classes, S, S, 1)``: each row keeps its noise fixed and asks for every condition in turn."""
    latent_dim = generator.inputs[0].shape[-1]
    z = np.random.default_rng(seed).standard_normal((rows, latent_dim)).astype(np.float32)
    z = np.repeat(z, num_classes, axis=0)
    labels = np.tile(np.arange(num_classes, dtype=np.int32), rows)
    images = np.asarray(generator([z, labels], training=False))
    return images.reshape(rows, num_classes, *images.shape[1:])


# --------------------------------------------------------------------------- report

def jsonable(value):
    """``value`` made JSON-safe: NumPy numbers as Python ones, non-finite floats as None, arrays in dicts dropped."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def headline(metrics: dict) -> dict:
    """The verdicts' words and the few numbers a person reads first, flat, from notebook 05's metrics dictionary.

    Numbers the judge cannot vouch for (:func:`helpers.verdicts.withhold`) are left out: with a judge
    at chance there is no ``label_fidelity``.
    """
    from helpers.verdicts import all_verdicts, withhold

    metrics = jsonable(withhold(metrics))
    out = {f"verdict[{name}]": v["verdict"] for name, v in all_verdicts(metrics).items()}
    if "fidelity" in metrics:
        f = metrics["fidelity"]
        if "generated" in f:
            out["label_fidelity"] = f["generated"]["accuracy"]
        out["judge_accuracy_real_test"] = f["real_test"]["accuracy"]
        if "balanced_accuracy" in f["real_test"]:
            out["judge_balanced_accuracy_real_test"] = f["real_test"]["balanced_accuracy"]
    for r in metrics.get("realism", []):
        if r["comparison"].startswith("generated"):
            tag = r["extractor"].split()[0].lower()
            out.update({f"fid_{tag}": r["fid"], f"kid_{tag}": r["kid_mean"], f"precision_{tag}": r["precision"],
                        f"recall_{tag}": r["recall"]})
    if "utility" in metrics:
        for r in metrics["utility"]["summary"]:
            if r["arm"] in ("real", "synthetic only") or (r["arm"] == "real + synthetic" and r["ratio"] == 1.0):
                out[f"utility_auroc[{r['arm']}{' 1x' if r['arm'] == 'real + synthetic' else ''}]"] = r["auroc_mean"]
    for space, a in metrics.get("memorisation", {}).items():
        out[f"memorised_share[{space}]"] = a["share_synthetic_below"]
    return out


def _conditions_lines(screened: dict) -> list:
    """The report's lines on notebook 04's check of the training counts (left out, trained with a warning)."""
    low, high = screened.get("min_train_images"), screened.get("warn_train_images")
    lines = [f"## Conditions: enough training images? (at least {low} to train, {high} without a warning)", ""]
    for name, n in screened.get("dropped", {}).items():
        lines.append(f"- **left out**: {name}, {n} training images (notebook 04's `KEEP_CONDITIONS` keeps it anyway)")
    for name, n in screened.get("warned", {}).items():
        anyway = " (kept by `KEEP_CONDITIONS`)" if name in screened.get("kept_anyway", {}) else ""
        lines.append(f"- **trained with a warning**: {name}, {n} training images{anyway}: the generator may copy them")
    if not screened.get("dropped") and not screened.get("warned"):
        lines.append("- every condition has enough training images")
    return lines + [""]


def _fidelity_lines(f: dict, classes: list) -> list:
    """The report's label-fidelity section: the judge on real test images always, generated images when it can judge."""
    from helpers.verdicts import NOT_MEASURABLE

    gate = f["judge_gate"]
    real_all = _fmt(f['real_test']['accuracy'])
    if "balanced_accuracy" in f["real_test"]:
        real_all += f" (balanced {_fmt(f['real_test']['balanced_accuracy'])})"
    lines = ["## Right condition: label fidelity", ""]
    if "generated" not in f:
        lines += [f"**Label fidelity: {NOT_MEASURABLE}.** Why: {gate['reason']}. What would make it measurable: "
                  f"{gate['remedy']}.", "", f"Judge: {f.get('judge')}; real test: {f['real_test']['n']} images.", "",
                  "| condition | accuracy real test | AUROC real test |", "|---|---|---|"]
        lines += [f"| {name} | {_fmt(f['real_test']['per_class_accuracy'][i])} | "
                  f"{_fmt(f['real_test']['per_class_auroc'][i])} |" for i, name in enumerate(classes)]
        return lines + [f"| **all** | {real_all} | {_fmt(f['real_test']['macro_auroc'])} |", ""]
    g = f["generated"]
    lines += [(f"Judge: {f.get('judge')}. Generated: {g['n']} images ({g['n'] // max(len(classes), 1)} per "
               f"condition); real test: {f['real_test']['n']}. The judge can judge: {gate['reason']}."), "",
              "| condition | fidelity (generated) | AUROC generated | accuracy real test | AUROC real test |",
              "|---|---|---|---|---|"]
    for i, name in enumerate(classes):
        shown = (f"{_fmt(g['per_class_accuracy'][i])} | {_fmt(g['per_class_auroc'][i])}"
                 if g["per_class_accuracy"][i] is not None else f"{NOT_MEASURABLE} | –")
        lines.append(f"| {name} | {shown} | {_fmt(f['real_test']['per_class_accuracy'][i])} | "
                     f"{_fmt(f['real_test']['per_class_auroc'][i])} |")
    scored = f" (over the {g['conditions_scored']} conditions it recognises)" if "conditions_scored" in g else ""
    lines += [(f"| **all**{scored} | **{_fmt(g['accuracy'])}** | {_fmt(g['macro_auroc'])} | {real_all} | "
               f"{_fmt(f['real_test']['macro_auroc'])} |"), "",
              ("Generated images are drawn equally for every condition; the real test split keeps the data's "
               "own mix, so its balanced accuracy (the mean over conditions) is the number to compare with. A "
               "condition the judge does not recognise in real test images gets no fidelity of its own."), ""]
    return lines


def _memorisation_lines(spaces: dict, classes: list) -> list:
    """The report's memorisation section: the line, the shares, the copying test overall and per condition."""
    lines = ["## Private: memorisation audit", "",
             ("| space | threshold (1% of test→train distances) | synthetic below | test below | p-value | "
              "verdict | median synthetic→train | median test→train |"), "|---|---|---|---|---|---|---|---|"]
    for space, a in spaces.items():
        t = a.get("test") or {}
        verdict = "**copies its training images**" if a.get("copies") else "no copying"
        lines.append(f"| {space} | {_fmt(a['threshold'], 3)} | {_fmt(a['share_synthetic_below'])} | "
                     f"{_fmt(a['share_test_below'])} | {_fmt(t.get('p_value'), 3)} | {verdict} | "
                     f"{_fmt(a['median_synthetic'], 3)} | {_fmt(a['median_test'], 3)} |")
    for space, a in spaces.items():
        per = a.get("per_condition")
        if per:
            lines += ["", f"Per condition ({space}):", "", "| condition | under the line | share | p-value | verdict |",
                      "|---|---|---|---|---|"]
            lines += [f"| {classes[i] if i < len(classes) else i} | {t['below']} of {t['n']} | {_fmt(t['share'])} | "
                      f"{_fmt(t['p_value'], 3)} | {'**copies**' if t['copies'] else 'no copying'} |"
                      for i, t in enumerate(per) if t]
    return lines + [""]


def write_report(metrics: dict, run_dir) -> tuple[Path, Path]:
    """Write ``RUN_DIR/metrics.json`` (everything, machine-readable) and ``RUN_DIR/report.md`` (tables).

    Both open with the verdicts (:func:`helpers.verdicts.all_verdicts`: right condition, realistic,
    varied, useful, private; each "yes", "no" or "cannot tell" with its reason), then the numbers.
    ``metrics`` is the dictionary notebook 05 assembles; numbers a failing judge cannot vouch for are
    withheld (:func:`helpers.verdicts.withhold`), arrays are left out of the JSON, missing sections are
    skipped in the report. ``metrics["conditions"]`` (notebook 04's ``conditions.json``) adds the
    conditions left out or trained with a warning.
    """
    from helpers.verdicts import all_verdicts, verdict_lines, withhold

    run_dir = Path(run_dir)
    body = jsonable(withhold(metrics))
    verdicts = all_verdicts(body)
    clean = {"verdicts": verdicts, "headline": headline(metrics), **body}
    json_path = run_dir / "metrics.json"
    json_path.write_text(json.dumps(clean, indent=1))
    m = clean
    classes = m.get("classes", [])
    lines = [f"# Evaluation report: {m.get('data_source', '?')} data, {m.get('image_size', '?')} px",
             "", "Synthetic images for teaching and research; **not for clinical use**.", ""]
    if m.get("smoke"):
        lines += ["**Smoke run**: tiny models and samples. These numbers check the plumbing and mean nothing.", ""]
    lines += ["## Verdicts", ""] + verdict_lines(verdicts) + [""]
    if m.get("conditions"):
        lines += _conditions_lines(m["conditions"])
    if m.get("withheld"):
        lines += [f"Withheld: {m['withheld']}.", ""]
    numbers = {k: v for k, v in m["headline"].items() if not k.startswith("verdict[")}  # the verdicts are above
    lines += ["Headline: " + ", ".join(f"{k} {_fmt(v)}" for k, v in numbers.items()), ""]
    if "setup" in m:
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in m["setup"].items()] + [""]
    if "fidelity" in m:
        lines += _fidelity_lines(m["fidelity"], classes)
    if "realism" in m:
        lines += ["## Realism", ""]
        if not m["realism"]:
            lines += [f"No feature space to measure realism in: {m.get('withheld', 'no extractor ran')}.", ""]
        else:
            lines += [("| extractor | comparison | n reference | n compared | FID | KID (mean ± std) | "
                       "precision | recall | density | coverage |"), "|---|---|---|---|---|---|---|---|---|---|"]
            for r in m["realism"]:
                lines.append(f"| {r['extractor']} | {r['comparison']} | {r['n_real']} | {r['n_fake']} | "
                             f"{_fmt(r['fid'], 2)} | {_fmt(r['kid_mean'], 4)} ± {_fmt(r['kid_std'], 4)} | "
                             f"{_fmt(r['precision'])} | {_fmt(r['recall'])} | {_fmt(r['density'])} | "
                             f"{_fmt(r['coverage'])} |")
            lines.append("")
    if "diversity" in m:
        d = m["diversity"]
        lines += [f"## Diversity: mean MS-SSIM of {d['pairs']} random pairs per condition (lower = more varied)", "",
                  "| condition | real test | generated |", "|---|---|---|"]
        lines += [f"| {name} | {_fmt(d['real'][i])} | {_fmt(d['generated'][i])} |" for i, name in enumerate(classes)]
        lines.append("")
    if "utility" in m:
        u = m["utility"]
        lines += ["## Useful: train on synthetic, test on real", "",
                  (f"{u['classifier']}; {u['steps']} steps per classifier; seeds {u['seeds']}; real training images "
                   f"{'capped at ' + str(u['real_per_class_cap']) + ' per condition' if u.get('real_per_class_cap') else 'all'}; "
                   f"scored on the real test split ({u['n_test']} images)."), "",
                  "| trained on | added (× real) | images | macro AUROC (mean ± std) | accuracy (mean ± std) | Δ AUROC vs real |",
                  "|---|---|---|---|---|---|"]
        for r in u["summary"]:
            lines.append(f"| {r['arm']} | {r['ratio']:g} | {r['train_images']:.0f} | {_fmt(r['auroc_mean'])} ± "
                         f"{_fmt(r['auroc_std'])} | {_fmt(r['accuracy_mean'])} ± {_fmt(r['accuracy_std'])} | "
                         f"{_fmt(r['auroc_vs_real'], 3)} |")
        lines += ["", f"Verdict: {u['verdict']}.", ""]
    if "memorisation" in m:
        lines += _memorisation_lines(m["memorisation"], classes)
    report_path = run_dir / "report.md"
    report_path.write_text("\n".join(lines))
    return json_path, report_path
