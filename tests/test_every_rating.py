"""Every rating counts: a reviewer who rates several pairs of one item has all of them counted, a repeated rating of
the same pair is said and replaced, and the ranking follows choix on all of them."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import choix
import numpy as np

from lib.judge.run import TIE, Rating
from lib.judge.summary import summary
from lib.judge.tables import duplicates, pair_results, ranking
from lib.settings import PROJECT_DIR

TUNED, SHOT, BASE = "tuned", "3-shot", "base"


def all_pairs_file(items: int = 20) -> list[Rating]:
    """One reviewer compares tuned, 3-shot and base on each item: tuned beats base, 3-shot beats tuned and base."""
    ratings = []
    for item in range(1, items + 1):
        ratings += [
            Rating(0, "Ann", item, TUNED, BASE, TUNED, {}),
            Rating(0, "Ann", item, SHOT, TUNED, SHOT, {}),
            Rating(0, "Ann", item, BASE, SHOT, SHOT, {}),
        ]
    return ratings


def test_all_three_pairs_of_every_item_by_one_reviewer_count() -> None:
    ratings = all_pairs_file()
    rates = {(p.first, p.second): (p.items, p.win_rate) for p in pair_results([TUNED, SHOT, BASE], ratings)}
    assert rates == {(TUNED, SHOT): (20, 0.0), (TUNED, BASE): (20, 1.0), (SHOT, BASE): (20, 1.0)}
    order = [row["contender"] for row in ranking([TUNED, SHOT, BASE], ratings)]
    assert order == [SHOT, TUNED, BASE]
    assert all(row["strength"] > 0 for row in ranking([TUNED, SHOT, BASE], ratings))
    found = summary(ratings, [], TUNED, BASE, 0.05)
    assert found["verdict"]["decision"] is not None and found["duplicates"] == 0
    assert summary(ratings, [], TUNED, SHOT, 0.05)["verdict"]["decision"] is not None


def test_a_second_rating_of_the_same_pair_replaces_the_first_and_is_said() -> None:
    ratings = [*all_pairs_file(3), Rating(0, " ann ", 2, BASE, TUNED, BASE, {})]  # Ann changed her mind on item 2
    assert duplicates(ratings) == 1
    tuned_base = next(p for p in pair_results([TUNED, BASE], ratings))
    assert (tuned_base.items, tuned_base.wins, tuned_base.losses) == (3, 2, 1)


def _choix_order(ratings: list[Rating], players: list[str]) -> list[str]:
    index = {p: i for i, p in enumerate(players)}
    data = []
    for r in ratings:
        wins = 2 if r.winner == r.left else 1 if r.winner == TIE else 0
        data += [(index[r.left], index[r.right])] * wins + [(index[r.right], index[r.left])] * (2 - wins)
    params = choix.opt_pairwise(len(players), data, alpha=0.1)
    return [players[i] for i in np.argsort(-params)]


def test_the_ranking_follows_choix_on_three_and_four_contender_files() -> None:
    rng = random.Random(7)
    for players in (["a", "b", "c"], ["a", "b", "c", "d"]):
        strength = {p: rng.uniform(0.2, 3) for p in players}
        ratings = []
        for item in range(1, 31):
            for reviewer in ("Ann", "Bo"):
                for i, first in enumerate(players):
                    for second in players[i + 1 :]:
                        if rng.random() < 0.6:
                            p = strength[first] / (strength[first] + strength[second])
                            winner = first if rng.random() < p else second
                            ratings.append(Rating(0, reviewer, item, first, second, winner, {}))
        assert [row["contender"] for row in ranking(players, ratings)] == _choix_order(ratings, players)


def test_the_command_line_says_replaced_ratings(tmp_path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["item", "reviewer", "A", "B", "winner"])
    for r in [*all_pairs_file(20), Rating(0, "Ann", 1, TUNED, BASE, BASE, {})]:
        writer.writerow([r.position, r.reviewer, r.left, r.right, r.winner])
    path = tmp_path / "ratings.csv"
    path.write_text(out.getvalue())
    command = [sys.executable, "-m", "lib", "scorecard", str(path), "--tuned", TUNED, "--baseline", BASE]
    text = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_DIR)
    assert text.returncode == 0, text.stderr
    assert "1 rating replaced by a later rating of the same pair of the same item by the same reviewer" in text.stdout
    found = json.loads(subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=PROJECT_DIR).stdout)
    assert found["duplicates"] == 1 and found["pairs"][0]["items"] == 20
