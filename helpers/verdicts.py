"""What a run can and cannot claim: the rules behind notebook 05's verdicts, each defined once.

A run on a small data set can train, score and report without an error and still mean nothing: a
condition with a handful of images is copied, not learned; a judge that cannot tell the conditions
apart on real images cannot vouch for generated ones; a classifier at chance cannot show that
synthetic data helps. This module holds the rules that say so, with their thresholds as named
constants (the lab's evidence for them is rendered in docs/experiments.md, section "Thresholds
behind the verdicts"):

- **too small to learn** (notebook 04, before training): :func:`screen_conditions` leaves out a
  condition with fewer than :data:`MIN_TRAIN_IMAGES` training images and warns below
  :data:`WARN_TRAIN_IMAGES`; :func:`restrict_conditions` makes the data set of the kept ones;
- **a judge that can judge**: :func:`judge_gate` (Wilson interval of the judge's balanced accuracy
  on real test images against chance plus :data:`JUDGE_MARGIN`); numbers in the judge's eyes or
  features are withheld when it fails (:func:`withhold`);
- **a generator that copies**: :func:`copy_test`, the one-sided exact binomial test that
  :func:`helpers.evaluate.memorisation_audit` applies overall and per condition;
- **verdicts first**: :func:`all_verdicts` answers right condition, realistic, varied, useful and
  private with "yes", "no" or "cannot tell" and a reason.

Only the standard library and NumPy: scipy is not a dependency.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- thresholds

#: Fewer training images than this and a condition is left out before training. The lab's scarce-data
#: study (results/utility_study/*.json) cut conditions to exactly this many training images: the GAN then
#: placed many times the test split's share of its images closer to a training image than 99% of real test
#: images are. Below the smallest count measured, copying is the expected outcome, not a risk.
MIN_TRAIN_IMAGES = 30
#: Fewer training images than this (and at least MIN_TRAIN_IMAGES) and a condition trains with a warning
#: that reaches the report. It sits a little below what the phantom course gives its scarcest conditions
#: (results/utility_study/phantom-earlier-default.json, ``ceiling_per_scarce_condition``; the patient split moves
#: each count a little), where the course's generators stay near the test rate (results/course/quick-phantom.json),
#: so the full phantom course trains without a warning; between the two thresholds nothing was measured.
WARN_TRAIN_IMAGES = 450
#: The smoke profile's own thresholds: it trains on about 20 phantoms per condition, which must stay whole,
#: while a test set with a few images per condition still exercises the drop and the warning.
SMOKE_MIN_TRAIN_IMAGES = 5
SMOKE_WARN_TRAIN_IMAGES = 15

#: Two-sided confidence of every interval here (Wilson score interval; z for 95%).
CONFIDENCE = 0.95
Z_95 = 1.959963984540054
#: A judge counts only when the lower end of its interval clears chance (1 / number of conditions) by this.
JUDGE_MARGIN = 0.10

#: One-sided significance level of the copying test (Bonferroni-divided by the number of conditions per condition).
ALPHA = 0.01
#: Effect-size floor of "copies": the share of generated images under the line must also be at least this many
#: times the expected rate. The full-data course runs stay within about twice the test rate, the scarce-data study
#: lies an order of magnitude above it (docs/experiments.md).
COPY_FACTOR = 5.0

#: "Right condition" is yes when label fidelity reaches this share of the judge's balanced accuracy on real test
#: images of the same conditions: generated images recognised nearly as often as real ones are.
FIDELITY_SHARE = 0.90
#: "Realistic" is yes when the generated images' precision reaches this share of the real-versus-real floor's.
PRECISION_SHARE = 0.85
#: "Varied" is yes when recall reaches this share of the floor's and no condition's same-condition MS-SSIM lies
#: more than MS_SSIM_GAP above the real images' (the course's variety target, docs/experiments.md).
RECALL_SHARE = 0.90
MS_SSIM_GAP = 0.10
#: The utility study gives an effect verdict only when classifiers trained on the real images alone are clearly
#: above chance: their mean macro AUROC minus its standard deviation over seeds above 0.5 + this margin.
UTILITY_MARGIN = 0.10

VERDICTS = ("right condition", "realistic", "varied", "useful", "private")
NOT_MEASURABLE = "not measurable with this judge"


# --------------------------------------------------------------------------- statistics

def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``successes`` of ``n``; both may be non-integer); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(successes / n, 0.0), 1.0)
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_sf(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``, exact (summed in log space)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def copy_test(below: int, n: int, expected_rate: float, alpha: float = ALPHA) -> dict:
    """Does a generator put more images under the memorisation line than chance? One-sided exact binomial test.

    ``below`` of ``n`` generated images lie under the line; without copying each does with probability
    ``expected_rate`` (the test split's own share). "copies" needs both ``p < alpha`` and a share of at
    least :data:`COPY_FACTOR` times the expected rate. Returns ``{"below", "n", "share", "expected_rate",
    "p_value", "alpha", "copies"}``.
    """
    share = below / n if n else float("nan")
    p_value = binomial_sf(int(below), int(n), expected_rate) if n else float("nan")
    copies = bool(n) and p_value < alpha and share >= COPY_FACTOR * expected_rate
    return {"below": int(below), "n": int(n), "share": share, "expected_rate": expected_rate, "p_value": p_value,
            "alpha": alpha, "copies": copies}


# --------------------------------------------------------------------------- too small to learn

def train_thresholds(smoke: bool = False, min_images: int | None = None, warn_images: int | None = None):
    """``(lower, upper)``: the given values, else the course's (the smoke profile's in smoke mode)."""
    low = min_images if min_images is not None else (SMOKE_MIN_TRAIN_IMAGES if smoke else MIN_TRAIN_IMAGES)
    high = warn_images if warn_images is not None else (SMOKE_WARN_TRAIN_IMAGES if smoke else WARN_TRAIN_IMAGES)
    return int(low), max(int(high), int(low))


def screen_conditions(counts: dict, min_images: int = MIN_TRAIN_IMAGES, warn_images: int = WARN_TRAIN_IMAGES,
                      keep=()) -> dict:
    """Which conditions to train: ``counts`` maps each condition to its number of training images.

    Below ``min_images`` a condition is left out unless named in ``keep``; below ``warn_images`` it trains
    with a warning. Returns ``{"train_counts", "min_train_images", "warn_train_images", "kept" (names, in
    the data's order), "dropped", "warned", "kept_anyway" (name -> count each), "messages"}``. Raises
    ``ValueError`` when ``keep`` names an unknown condition or fewer than two conditions remain.
    """
    counts = {str(name): int(n) for name, n in counts.items()}
    unknown = [name for name in keep if name not in counts]
    if unknown:
        raise ValueError(f"KEEP_CONDITIONS names {unknown}, which this data does not have; its conditions are "
                         f"{list(counts)}")
    dropped = {c: n for c, n in counts.items() if n < min_images and c not in keep}
    kept_anyway = {c: n for c, n in counts.items() if n < min_images and c in keep}
    warned = {c: n for c, n in counts.items() if n < warn_images and c not in dropped}
    kept = [c for c in counts if c not in dropped]
    messages = [f"LEFT OUT: {c} has {n} training images, fewer than MIN_TRAIN_IMAGES = {min_images}: too few to "
                f"learn; a GAN returns copies of so few images. To train it anyway, set KEEP_CONDITIONS = {[c]!r} "
                "(or lower MIN_TRAIN_IMAGES)." for c, n in dropped.items()]
    messages += [f"WARNING: {c} has only {n} training images (under WARN_TRAIN_IMAGES = {warn_images}"
                 + (", kept by KEEP_CONDITIONS" if c in kept_anyway else "") + "): the generator may copy them; "
                 "notebook 05's memorisation audit tests it, and the report carries this warning."
                 for c, n in warned.items()]
    if len(kept) < 2:
        raise ValueError(f"only {len(kept)} condition(s) have at least MIN_TRAIN_IMAGES = {min_images} training "
                         f"images ({counts}); a conditional GAN needs two. Add images, name conditions in "
                         "KEEP_CONDITIONS, or lower MIN_TRAIN_IMAGES knowing that the generator will copy them.")
    return {"train_counts": counts, "min_train_images": int(min_images), "warn_train_images": int(warn_images),
            "kept": kept, "dropped": dropped, "warned": warned, "kept_anyway": kept_anyway, "messages": messages}


def restrict_conditions(data, classes):
    """``data`` (a :class:`helpers.preprocess.CachedData`) with only the images of ``classes``, relabelled 0..k-1.

    Every split loses the other conditions' images, so training, judging and evaluation see the same
    set. ``classes`` keeps its order (the generator's label i is ``classes[i]``). Returns ``data`` itself
    when nothing changes; otherwise the kept images are loaded into memory.
    """
    classes = tuple(classes)
    if classes == tuple(data.classes):
        return data
    missing = [c for c in classes if c not in data.classes]
    if missing:
        raise ValueError(f"conditions {missing} are not in this data set (its conditions: {list(data.classes)})")
    rows = np.flatnonzero(data.table["condition"].isin(classes).to_numpy())
    subset = data.subset(rows)
    subset.table["label"] = subset.table["condition"].map({c: i for i, c in enumerate(classes)}).astype(np.int64)
    subset.classes = classes
    return subset


def check_training_counts(data, run_dir=None, smoke: bool = False, min_images: int | None = None,
                          warn_images: int | None = None, keep=()):
    """Notebook 04's check before training: screen the training counts, print why, keep the trainable conditions.

    Writes the screening to ``run_dir/conditions.json`` (notebook 05 reads it into the report) and returns
    ``(data restricted to the kept conditions, screening)``.
    """
    low, high = train_thresholds(smoke, min_images, warn_images)
    labels = data.split("train")[1]
    counts = dict(zip(data.classes, np.bincount(labels, minlength=len(data.classes)).tolist()))
    screening = screen_conditions(counts, low, high, keep)
    screening["smoke_thresholds"] = bool(smoke and min_images is None and warn_images is None)
    for line in screening["messages"]:
        print(line)
    print(f"training images per condition checked against MIN_TRAIN_IMAGES = {low} and WARN_TRAIN_IMAGES = {high}"
          + (" (the smoke profile's)" if screening["smoke_thresholds"] else "") + f": {len(screening['kept'])} of "
          f"{len(counts)} conditions kept, {len(screening['warned'])} with a warning")
    if run_dir is not None:
        (Path(run_dir) / "conditions.json").write_text(json.dumps(screening, indent=1))
    return restrict_conditions(data, screening["kept"]), screening


def load_conditions(run_dir) -> dict | None:
    """Notebook 04's screening from ``run_dir/conditions.json``, or None when it wrote none."""
    path = Path(run_dir) / "conditions.json"
    return json.loads(path.read_text()) if path.is_file() else None


# --------------------------------------------------------------------------- a judge that can judge

def judge_gate(real_test: dict, margin: float = JUDGE_MARGIN) -> dict:
    """Can this judge judge? Its scores on real test images (:func:`helpers.metrics.classification_scores`).

    Overall: the Wilson interval of its balanced accuracy, with the effective sample size
    ``m**2 / sum(1 / n_c)`` over the m conditions with test images (the size a single proportion with
    the same variance would have), must have its lower end above chance ``1 / K`` plus ``margin``.
    Per condition: the same test on its recall (``n_c`` real test images of it). Returns
    ``{"measurable", "conditions" (bool per condition), "balanced_accuracy", "lower", "upper",
    "n_effective", "chance", "needed", "condition_lower", "reason", "remedy"}``.
    """
    confusion = np.asarray(real_test["confusion"], np.float64)
    k = len(confusion)
    n_c = confusion.sum(1)
    recall = np.divide(confusion.diagonal(), n_c, out=np.zeros(k), where=n_c > 0)
    present = n_c > 0
    chance = 1.0 / k
    needed = chance + margin
    balanced = float(recall[present].mean()) if present.any() else float("nan")
    n_eff = float(present.sum() ** 2 / np.sum(1.0 / n_c[present])) if present.any() else 0.0
    lower, upper = wilson_interval(balanced * n_eff, n_eff) if present.any() else (0.0, 1.0)
    per_lower = [wilson_interval(recall[c] * n_c[c], n_c[c])[0] if n_c[c] else 0.0 for c in range(k)]
    measurable = bool(lower > needed)
    conditions = [bool(measurable and lo > needed) for lo in per_lower]
    reason = (f"the judge's balanced accuracy on {int(n_c.sum())} real test images is {balanced:.3f} (95% interval "
              f"{lower:.3f} to {upper:.3f}, effective n {n_eff:.0f}); chance among {k} conditions is {chance:.3f}, "
              f"and the interval's lower end must exceed {needed:.3f}")
    remedy = ("more real images per condition (to train the judge and to test it) or fewer conditions (merge them, "
              "or leave out the rarest with notebook 04's MIN_TRAIN_IMAGES)")
    return {"measurable": measurable, "conditions": conditions, "balanced_accuracy": balanced, "lower": lower,
            "upper": upper, "n_effective": n_eff, "chance": chance, "margin": margin, "needed": needed,
            "condition_lower": per_lower, "reason": reason, "remedy": remedy}


def in_judge_space(name: str) -> bool:
    """Whether a realism extractor or memorisation space name means the judge's features."""
    return "judge" in name.lower()


def scored_fidelity(fidelity: dict, gate: dict) -> dict | None:
    """The generated-image scores the gate lets through, or None when the judge cannot judge at all.

    Conditions the judge does not recognise in real images lose their own figures (``None``), and the
    overall fidelity becomes the mean over the conditions it does recognise (the generated set is
    balanced, so with every condition recognised this is the plain accuracy).
    """
    if not gate["measurable"]:
        return None
    generated = copy.deepcopy(fidelity["generated"])
    ok = gate["conditions"]
    if not all(ok):
        for key in ("per_class_accuracy", "per_class_auroc", "confusion"):
            generated[key] = [v if keep else None for v, keep in zip(generated[key], ok)]
        generated["accuracy"] = float(np.mean([v for v in generated["per_class_accuracy"] if v is not None]))
        generated["conditions_scored"] = int(sum(ok))
    return generated


def withhold(metrics: dict) -> dict:
    """A copy of notebook 05's ``metrics`` without the numbers a failing judge cannot vouch for.

    Adds ``fidelity["judge_gate"]``; drops ``fidelity["generated"]`` (or the per-condition figures of
    conditions the judge does not recognise), the realism rows and the memorisation space computed in
    the judge's features, and records what was withheld in ``metrics["withheld"]``.
    """
    out = dict(metrics)
    if "fidelity" not in out:
        return out
    fidelity = dict(out["fidelity"])
    gate = judge_gate(fidelity["real_test"])
    fidelity["judge_gate"] = gate
    generated = scored_fidelity(fidelity, gate)
    fidelity.pop("generated", None)
    if generated is not None:
        fidelity["generated"] = generated
    out["fidelity"] = fidelity
    if not gate["measurable"]:
        out["realism"] = [r for r in out.get("realism", []) if not in_judge_space(r["extractor"])]
        out["memorisation"] = {k: v for k, v in out.get("memorisation", {}).items() if not in_judge_space(k)}
        out["withheld"] = (f"label fidelity, realism and memorisation in the judge's features: {NOT_MEASURABLE} "
                           f"({gate['reason']}); what would make it measurable: {gate['remedy']}")
    return out


# --------------------------------------------------------------------------- the five verdicts

def _verdict(answer: str, reason: str) -> dict:
    return {"verdict": answer, "reason": reason}


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _classes(metrics: dict) -> list:
    return list(metrics.get("classes", []))


def right_condition(metrics: dict) -> dict:
    """Yes when label fidelity reaches :data:`FIDELITY_SHARE` of the judge's balanced accuracy on those conditions."""
    f = metrics.get("fidelity")
    if not f:
        return _verdict("cannot tell", "label fidelity was not measured")
    gate = f.get("judge_gate") or judge_gate(f["real_test"])
    if not gate["measurable"] or "generated" not in f:
        return _verdict("cannot tell", f"{NOT_MEASURABLE}: {gate['reason']}. What would make it measurable: "
                                       f"{gate['remedy']}")
    ok = gate["conditions"]
    real = [r for r, keep in zip(f["real_test"]["per_class_accuracy"], ok) if keep]
    judge = float(np.mean(real)) if real else float("nan")
    fidelity = f["generated"]["accuracy"]
    names = _classes(metrics)
    unscored = [names[i] if i < len(names) else str(i) for i, keep in enumerate(ok) if not keep]
    text = (f"label fidelity {fidelity:.3f} against the judge's {judge:.3f} on real test images of the same "
            f"conditions (yes from {FIDELITY_SHARE:.0%} of it)")
    per = [(v, names[i] if i < len(names) else str(i)) for i, v in enumerate(f["generated"]["per_class_accuracy"])
           if v is not None]
    if per:
        weakest = min(per)
        text += f"; weakest condition {weakest[1]} ({weakest[0]:.2f})"
    if unscored:
        text += f"; no figure for {', '.join(unscored)}: the judge does not recognise it in real images"
    return _verdict("yes" if fidelity >= FIDELITY_SHARE * judge else "no", text)


def _realism_pair(metrics: dict):
    """``(extractor, generated row, floor row)`` of the extractor the verdicts read: the judge's, else another."""
    rows = metrics.get("realism") or []
    names = list(dict.fromkeys(r["extractor"] for r in rows))
    names.sort(key=lambda n: not in_judge_space(n))
    for name in names:
        gen = next((r for r in rows if r["extractor"] == name and r["comparison"].startswith("generated")), None)
        floor = next((r for r in rows if r["extractor"] == name and not r["comparison"].startswith("generated")), None)
        if gen and floor:
            return name, gen, floor
    return None, None, None


def _share(value, floor):
    return value / floor if value is not None and floor else None


def realistic(metrics: dict) -> dict:
    """Yes when precision reaches :data:`PRECISION_SHARE` of the real-versus-real floor's precision."""
    name, gen, floor = _realism_pair(metrics)
    if gen is None:
        why = metrics.get("withheld") or "no realism numbers"
        return _verdict("cannot tell", f"no feature space to measure realism in: {why}")
    share = _share(gen["precision"], floor["precision"])
    if share is None:
        return _verdict("cannot tell", f"precision is undefined in {name}")
    return _verdict("yes" if share >= PRECISION_SHARE else "no",
                    f"precision {gen['precision']:.3f}, {share:.2f} of the real-versus-real floor "
                    f"{floor['precision']:.3f} (yes from {PRECISION_SHARE:.2f}); FID {_num(gen['fid'], 2)} against "
                    f"the floor's {_num(floor['fid'], 2)}; {name}")


def varied(metrics: dict) -> dict:
    """Yes when recall reaches :data:`RECALL_SHARE` of the floor's and no MS-SSIM gap exceeds :data:`MS_SSIM_GAP`."""
    parts, answers = [], []
    d = metrics.get("diversity")
    if d:
        gaps = [(g - r, c) for g, r, c in zip(d["generated"], d["real"], _classes(metrics) or range(len(d["real"])))
                if g is not None and r is not None and np.isfinite(g) and np.isfinite(r)]
        if gaps:
            worst = max(gaps)
            answers.append(worst[0] <= MS_SSIM_GAP)
            parts.append(f"largest same-condition MS-SSIM gap (generated minus real) {worst[0]:+.3f} for {worst[1]} "
                         f"(at most {MS_SSIM_GAP:.2f})")
    name, gen, floor = _realism_pair(metrics)
    share = _share(gen["recall"], floor["recall"]) if gen else None
    if share is not None:
        answers.append(share >= RECALL_SHARE)
        parts.append(f"recall {gen['recall']:.3f}, {share:.2f} of the floor's {floor['recall']:.3f} "
                     f"(at least {RECALL_SHARE:.2f}; {name})")
    if not answers:
        return _verdict("cannot tell", "neither MS-SSIM nor recall was measured")
    if not all(answers):
        return _verdict("no", "; ".join(parts))
    if share is None:
        return _verdict("cannot tell", "; ".join(parts) + f"; recall is {NOT_MEASURABLE} and MS-SSIM alone "
                                                          "cannot see a generator that covers too little")
    return _verdict("yes", "; ".join(parts))


def useful(metrics: dict) -> dict:
    """From the utility study's sentence (:func:`helpers.utility.utility_verdict`); cannot tell when it did not run."""
    u = metrics.get("utility")
    if not u:
        return _verdict("cannot tell", "the utility study did not run (UTILITY_STUDY = False in notebook 05); the "
                                       "lab's measured answer is in docs/experiments.md")
    sentence = u.get("verdict", "")
    if sentence.startswith("cannot tell"):
        return _verdict("cannot tell", sentence)
    return _verdict("yes" if "helped" in sentence else "no", sentence)


def private(metrics: dict) -> dict:
    """No when the memorisation audit's copying test fires in any space, overall or for any condition."""
    spaces = metrics.get("memorisation") or {}
    if not spaces:
        return _verdict("cannot tell", "the memorisation audit did not run")
    names = _classes(metrics)
    found, summary = [], []
    for space, a in spaces.items():
        test = a.get("test")
        if not test:
            continue
        summary.append(f"{space}: {test['below']} of {test['n']} generated images under the line "
                       f"({test['share']:.1%}, expected {test['expected_rate']:.1%}, p = {test['p_value']:.2g})")
        if test["copies"]:
            found.append(f"{space}, all conditions together")
        for i, t in enumerate(a.get("per_condition") or []):
            if t and t["copies"]:
                found.append(f"{space}, {names[i] if i < len(names) else i} ({t['below']} of {t['n']}, "
                             f"{t['share']:.0%}, p = {t['p_value']:.2g})")
    if not summary:
        return _verdict("cannot tell", "the memorisation audit carries no copying test")
    rule = (f"one-sided exact binomial test against the test split's share, alpha {ALPHA} (divided by the number of "
            f"conditions per condition), and at least {COPY_FACTOR:g} times the expected share")
    screened = metrics.get("conditions") or {}
    few = screened.get("warned") or {}
    if found:
        return _verdict("no", "the generator copies its training images: " + "; ".join(found) + f" ({rule})")
    text = "no copying found: " + "; ".join(summary) + f" ({rule})"
    if few:
        text += "; conditions trained on few images: " + ", ".join(f"{c} ({n})" for c, n in few.items())
    return _verdict("yes", text)


def all_verdicts(metrics: dict) -> dict:
    """The five verdicts, in :data:`VERDICTS` order, of a (withheld, JSON-safe) metrics dictionary."""
    rules = {"right condition": right_condition, "realistic": realistic, "varied": varied, "useful": useful,
             "private": private}
    return {name: rules[name](metrics) for name in VERDICTS}


def verdict_lines(verdicts: dict) -> list[str]:
    """The verdicts as markdown bullet lines (a copying generator's line first, in bold)."""
    order = sorted(verdicts, key=lambda k: not (k == "private" and verdicts[k]["verdict"] == "no"))
    lines = []
    for name in order:
        v = verdicts[name]
        line = f"- **{name}: {v['verdict']}** — {v['reason']}"
        lines.append(line)
    return lines
