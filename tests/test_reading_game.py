"""The reading game (notebook 05, section 9): films, scripted readers, intervals, saved files, pooling."""

import json

import numpy as np
import pytest

from helpers.reading_game import (ask, load_answers, make_game, parse_answers, pool, record_answers, save_answers,
                                  score, score_lines)
from helpers.verdicts import wilson_interval

CLASSES = ["No Finding", "Effusion"]


def _game(per_condition=3, seed=0):
    """Real films are all 0, generated ones all 1 (so a test can tell which film is which from its pixels)."""
    real, gen = np.zeros((40, 8, 8, 1)), np.ones((40, 8, 8, 1))
    labels = np.arange(40) % len(CLASSES)  # 20 films of each condition, real and generated
    return make_game(real, labels, gen, labels[::-1], CLASSES, per_condition=per_condition, seed=seed)


def _truths(game):
    return [f["truth"] for f in game["films"]]


def test_the_game_is_balanced_shuffled_and_seeded():
    game = _game()
    films = game["films"]
    assert [f["number"] for f in films] == list(range(1, 13))
    for condition in CLASSES:
        mine = [f["truth"] for f in films if f["condition"] == condition]
        assert sorted(mine) == ["generated"] * 3 + ["real"] * 3
    assert game["images"].shape == (12, 8, 8)
    assert [int(image.mean()) for image in game["images"]] == [int(t == "generated") for t in _truths(game)]
    assert _truths(game) == _truths(_game())  # same seed, same order
    assert any(_truths(_game(seed=s)) != _truths(game) for s in range(1, 5))
    assert _truths(game) != sorted(_truths(game)) and _truths(game) != sorted(_truths(game), reverse=True)


def test_a_perfect_reader_scores_one_with_an_interval():
    game = _game(per_condition=10)
    result = score(record_answers(game, _truths(game), "perfect"))
    overall = result["overall"]
    assert overall["n"] == 40 and overall["correct"] == 40 and overall["accuracy"] == 1.0
    assert overall["ci_high"] == 1.0 and 0.85 < overall["ci_low"] < 1.0  # Wilson: 40 of 40 leaves room below 1
    for condition in CLASSES:
        assert result["per_condition"][condition]["accuracy"] == 1.0
        assert result["per_condition"][condition]["ci_low"] < overall["ci_low"]  # fewer films, a wider interval
    assert result["generated_taken_for_real"]["accuracy"] == 0.0
    assert "better than chance" in score_lines(result)[0]


def test_a_coin_flipping_reader_is_not_told_from_chance():
    game = _game(per_condition=20)
    coin = np.random.default_rng(7).choice(["real", "generated"], len(game["films"]))
    result = score(record_answers(game, list(coin), "coin"))
    overall = result["overall"]
    assert overall["n"] == 80 and 0.3 < overall["accuracy"] < 0.7
    assert overall["ci_low"] < 0.5 < overall["ci_high"]
    assert "not distinguishable from chance" in score_lines(result)[0]


def test_a_reader_who_calls_everything_real():
    game = _game()
    result = score(record_answers(game, "r" * len(game["films"]), "trusting"))
    assert result["overall"]["accuracy"] == 0.5
    assert result["generated_taken_for_real"]["accuracy"] == 1.0


def test_answers_are_parsed_and_checked():
    assert parse_answers("r g rr generated, real fake") == ["real", "generated", "real", "real", "generated",
                                                              "real", "generated"]
    with pytest.raises(ValueError, match="3 answers for 4 films"):
        parse_answers("rgr", 4)
    with pytest.raises(ValueError, match="'maybe' is not an answer"):
        parse_answers("r maybe")
    game = _game()
    with pytest.raises(ValueError, match="no answer for films"):
        record_answers(game, {1: "real"})


def test_ask_reads_a_scripted_reader_row_by_row(capsys):
    game = _game()  # 12 films: rows of 8 and 4
    truth = ["r" if t == "real" else "g" for t in _truths(game)]
    script = iter(["Ada", "r g", "".join(truth[:8]), " ".join(truth[8:])])  # the second line has too few answers
    record = ask(game, input_fn=lambda prompt: next(script))
    assert record["reader"] == "Ada"
    assert all(f["correct"] for f in record["films"])
    assert "2 answers for 8 films" in capsys.readouterr().out


def test_the_saved_file_round_trips(tmp_path):
    game = _game()
    record = record_answers(game, _truths(game), "Dr. Ada Lovelace")
    path = save_answers(record, tmp_path)
    assert path == tmp_path / "reading_game" / "answers-dr-ada-lovelace.json"
    assert load_answers(path) == record
    assert score(load_answers(path)) == score(record)
    assert save_answers(record, tmp_path).name == "answers-dr-ada-lovelace-2.json"  # never overwrites a reader
    (tmp_path / "other.json").write_text(json.dumps({"not": "answers"}))
    with pytest.raises(ValueError, match="not a reading-game answers file"):
        load_answers(tmp_path / "other.json")


def test_pooling_two_readers_files(tmp_path):
    game = _game()
    truths = _truths(game)
    perfect = save_answers(record_answers(game, truths, "one"), tmp_path)
    wrong = save_answers(record_answers(game, ["real" if t == "generated" else "generated" for t in truths], "two"),
                         tmp_path)
    pooled = pool([perfect, wrong])
    assert pooled["readers"] == ["one", "two"]
    assert pooled["overall"]["n"] == 24 and pooled["overall"]["correct"] == 12 and pooled["overall"]["accuracy"] == 0.5
    assert pooled["generated_taken_for_real"]["correct"] == 6 and pooled["generated_taken_for_real"]["n"] == 12
    assert pooled["per_condition"]["Effusion"]["n"] == 12
    one_reader = wilson_interval(6, 12)  # one reader half right: the same accuracy from half the answers
    assert pooled["overall"]["ci_high"] - pooled["overall"]["ci_low"] < one_reader[1] - one_reader[0]
    with pytest.raises(ValueError, match="no answers files"):
        pool([])
