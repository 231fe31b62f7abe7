"""Real or generated? A reading game for a workshop (notebook 05, section 9).

A reader sees a numbered grid of films, half real test images and half generated, shuffled with a
seed, and says of each whether it is real or generated. The answers are scored per condition and
overall, each accuracy with a 95% Wilson interval (:func:`helpers.verdicts.wilson_interval`), beside
the share of generated films the reader took for real: the figure reader studies report (clinicians
took StyleGAN2 chest radiographs for real ones 42% of the time; Woodland et al. 2022).

- :func:`make_game`: the shuffled films (seeded) and the truth behind each number;
- :func:`show_game`: the numbered grid;
- :func:`parse_answers`, :func:`ask`, :func:`record_answers`: a reader's guesses, typed or scripted;
- :func:`save_answers` / :func:`load_answers`: one JSON file per reader in ``RUN_DIR/reading_game/``;
- :func:`score` and :func:`pool`: accuracy per condition and overall, for one reader or several files.

Pooling counts every answer as one trial: answers of one reader are not independent, so a pooled
interval is narrower than a study that models readers would give. Chance is 0.5 (half the films are real).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from helpers.verdicts import wilson_interval

TRUTHS = ("real", "generated")
#: What a reader may type for each answer (case-insensitive).
ANSWER_WORDS = {"r": "real", "real": "real", "g": "generated", "gen": "generated", "generated": "generated",
                "f": "generated", "fake": "generated"}
GAME_FOLDER = "reading_game"


def make_game(real_images, real_labels, generated_images, generated_labels, classes, per_condition: int = 3,
              seed: int = 0) -> dict:
    """A shuffled set of films: ``per_condition`` real and ``per_condition`` generated images of every condition.

    Images are ``(N, S, S)`` or ``(N, S, S, 1)`` arrays (any range; :func:`show_game` scales each film to its own
    range); labels are condition indices into ``classes``. A condition with fewer images of either kind than
    ``per_condition`` gets as many pairs as it has. Returns ``{"seed", "classes", "images" (films in display
    order), "films": [{"number", "condition", "truth"}, ...]}``; ``number`` starts at 1.
    """
    rng = np.random.default_rng(seed)
    real_labels, generated_labels = np.asarray(real_labels), np.asarray(generated_labels)
    picked, films = [], []
    for c, condition in enumerate(classes):
        rows_real = np.flatnonzero(real_labels == c)
        rows_gen = np.flatnonzero(generated_labels == c)
        n = min(per_condition, len(rows_real), len(rows_gen))
        for truth, images, rows in (("real", real_images, rows_real), ("generated", generated_images, rows_gen)):
            for row in rng.choice(rows, n, replace=False):
                picked.append(np.asarray(images[row], np.float32).reshape(np.shape(images[row])[:2]))
                films.append({"condition": condition, "truth": truth})
    if not films:
        raise ValueError("no condition has both real and generated images: nothing to show")
    order = rng.permutation(len(films))
    films = [{"number": k + 1, **films[i]} for k, i in enumerate(order)]
    return {"seed": int(seed), "classes": list(classes), "images": np.stack([picked[i] for i in order]),
            "films": films}


def show_game(game: dict, columns: int = 8, size: float = 1.35):
    """The films in a grid, each titled with its number (never its truth or condition); returns the figure."""
    import matplotlib.pyplot as plt

    images = game["images"]
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * (size + 0.2)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, film in zip(axes.ravel(), images, game["films"]):
        ax.imshow(image, cmap="gray")  # each film scaled to its own range
        ax.set_title(str(film["number"]), fontsize=9)
    fig.suptitle("Real or generated? Note r or g for each number", fontsize=10)
    fig.tight_layout()
    return fig


def parse_answers(text: str, expected: int | None = None) -> list[str]:
    """``"r g rr generated, real"`` -> ``["real", "generated", "real", "real", "generated", "real"]``.

    Words (real, generated, fake; r, g, f) separated by spaces or commas; a run of the letters r, g and f
    counts one answer per letter. ``ValueError`` names what was not understood, or the count when it is
    not ``expected``.
    """
    answers = []
    for token in re.split(r"[\s,;]+", text.strip().lower()):
        if not token:
            continue
        if token in ANSWER_WORDS:
            answers.append(ANSWER_WORDS[token])
        elif set(token) <= set("rgf"):
            answers.extend(ANSWER_WORDS[letter] for letter in token)
        else:
            raise ValueError(f"{token!r} is not an answer: type r (real) or g (generated) for each film")
    if expected is not None and len(answers) != expected:
        raise ValueError(f"{len(answers)} answers for {expected} films: one r or g per film, in order")
    return answers


def record_answers(game: dict, answers, reader: str = "reader") -> dict:
    """A reader's record: every film with its truth, the answer and whether it was right.

    ``answers``: one per film in number order (a list, or a string for :func:`parse_answers`), or a dict
    ``{number: answer}`` covering every film.
    """
    films = game["films"]
    if isinstance(answers, str):
        answers = parse_answers(answers, len(films))
    if isinstance(answers, dict):
        missing = [f["number"] for f in films if f["number"] not in answers]
        if missing:
            raise ValueError(f"no answer for films {missing}")
        answers = [answers[f["number"]] for f in films]
    answers = [ANSWER_WORDS.get(str(a).strip().lower(), str(a).strip().lower()) for a in answers]
    if len(answers) != len(films):
        raise ValueError(f"{len(answers)} answers for {len(films)} films")
    wrong = sorted({a for a in answers if a not in TRUTHS})
    if wrong:
        raise ValueError(f"answers must be 'real' or 'generated', got {wrong}")
    return {"reader": str(reader), "seed": game["seed"], "classes": game["classes"],
            "films": [{**film, "answer": a, "correct": a == film["truth"]} for film, a in zip(films, answers)]}


def ask(game: dict, reader: str | None = None, input_fn=input, columns: int = 8) -> dict:
    """Ask a reader, row by row of the grid, with ``input_fn`` (``input`` in a notebook; a script in tests)."""
    reader = reader or input_fn("Your name or initials (names the answers file): ").strip() or "reader"
    answers, numbers = [], [f["number"] for f in game["films"]]
    for start in range(0, len(numbers), columns):
        row = numbers[start:start + columns]
        while True:
            text = input_fn(f"films {row[0]}-{row[-1]}: {len(row)} answers, r (real) or g (generated): ")
            try:
                answers += parse_answers(text, len(row))
                break
            except ValueError as exc:
                print(exc)
    return record_answers(game, answers, reader)


def _rate(hits: int, n: int) -> dict:
    """``{"n", "correct", "accuracy", "ci_low", "ci_high"}`` with a 95% Wilson interval."""
    low, high = wilson_interval(hits, n)
    return {"n": int(n), "correct": int(hits), "accuracy": hits / n if n else None, "ci_low": low, "ci_high": high}


def score(records) -> dict:
    """Accuracy overall and per condition, with 95% Wilson intervals, over one record or a list of them.

    Also ``generated_taken_for_real``: among generated films, the share answered "real" (the reader
    studies' figure), as ``{"n", "correct" (films taken for real), "accuracy" (that share), ...}``.
    """
    records = [records] if isinstance(records, dict) else list(records)
    films = [f for r in records for f in r["films"]]
    if not films:
        raise ValueError("no answers to score")
    conditions = list(dict.fromkeys(c for r in records for c in r["classes"]))
    per_condition = {}
    for condition in conditions:
        mine = [f for f in films if f["condition"] == condition]
        if mine:
            per_condition[condition] = _rate(sum(f["correct"] for f in mine), len(mine))
    generated = [f for f in films if f["truth"] == "generated"]
    return {"readers": [r["reader"] for r in records], "overall": _rate(sum(f["correct"] for f in films), len(films)),
            "per_condition": per_condition,
            "generated_taken_for_real": _rate(sum(f["answer"] == "real" for f in generated), len(generated))}


def score_lines(result: dict) -> list[str]:
    """The score in words: overall, the share of generated films taken for real, then each condition."""
    def shown(r):
        return f"{r['accuracy']:.0%} of {r['n']} (95% CI {r['ci_low']:.0%}-{r['ci_high']:.0%})"

    overall, fooled = result["overall"], result["generated_taken_for_real"]
    chance = ("better than chance" if overall["ci_low"] > 0.5 else
              "worse than chance" if overall["ci_high"] < 0.5 else "not distinguishable from chance")
    lines = [f"{len(result['readers'])} reader(s): right on {shown(overall)}; {chance} (0.5).",
             f"generated films taken for real: {shown(fooled)}."]
    return lines + [f"  {c}: right on {shown(r)}" for c, r in result["per_condition"].items()]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "reader"


def save_answers(record: dict, run_dir) -> Path:
    """Write ``RUN_DIR/reading_game/answers-<reader>.json`` (``-2``, ``-3``... when taken) and return its path."""
    folder = Path(run_dir) / GAME_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path, k = folder / f"answers-{_slug(record['reader'])}.json", 1
    while path.exists():
        k += 1
        path = folder / f"answers-{_slug(record['reader'])}-{k}.json"
    path.write_text(json.dumps(record, indent=1))
    return path


def load_answers(path) -> dict:
    """One reader's record from its JSON file; ``ValueError`` names a file that is not one."""
    record = json.loads(Path(path).read_text())
    if not isinstance(record, dict) or not {"reader", "classes", "films"} <= set(record):
        raise ValueError(f"{path} is not a reading-game answers file (reader, classes, films)")
    return record


def answer_files(run_dir) -> list[Path]:
    """Every answers file in ``RUN_DIR/reading_game/``, sorted."""
    return sorted((Path(run_dir) / GAME_FOLDER).glob("answers-*.json"))


def pool(files) -> dict:
    """Score several readers' files together (a workshop's answers gathered in one folder): :func:`score`."""
    files = list(files)
    if not files:
        raise ValueError("no answers files to pool")
    return score([load_answers(f) for f in files])
