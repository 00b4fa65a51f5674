"""The scorecard of a large ratings file: `python -m lib scorecard` on 2,400 items (target under 10 s).

Run: python -m bench.scorecard [--items 2400]
Baseline: the Bradley-Terry bootstrap as it was, ``choix.opt_pairwise`` fitted on every one of the 200
resamples (choix walks every game in Python), on the same ratings.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import choix
import numpy as np

from bench import machine, ratio, seconds
from lib.judge.run import TIE, Rating
from lib.settings import PROJECT_DIR

PLAYERS = ["tuned", "3-shot", "base"]


def ratings_file(path: Path, items: int) -> list[Rating]:
    """Two reviewers rate each item's pair, with rubric scores, the way the Scorecard exports them."""
    rng = random.Random(1)
    strength = {"tuned": 1.6, "3-shot": 1.2, "base": 0.6}
    ratings = []
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["item", "reviewer", "A", "B", "winner", "A: form", "B: form"])
        for item in range(1, items + 1):
            a, b = rng.sample(PLAYERS, 2)
            for reviewer in ("Ann", "Bo"):
                p = strength[a] / (strength[a] + strength[b])
                draw = rng.random()
                winner = TIE if draw > 0.9 else a if draw < 0.9 * p else b
                scores = [rng.randint(1, 5), rng.randint(1, 5)]
                writer.writerow([item, reviewer, a, b, winner, *scores])
                ratings.append(Rating(0, reviewer, item, a, b, winner, {a: [scores[0]], b: [scores[1]]}))
    return ratings


def choix_bootstrap(ratings: list[Rating], resamples: int = 200) -> dict[str, tuple[float, float]]:
    """The former bootstrap: choix fitted on each resample's games."""
    by_item: dict[int, list[tuple[str, str, float]]] = {}
    for r in ratings:
        score = 1.0 if r.winner == r.left else 0.5 if r.winner == TIE else 0.0
        by_item.setdefault(r.position, []).append((r.left, r.right, score))
    items = list(by_item)
    index = {p: i for i, p in enumerate(PLAYERS)}
    rng = np.random.default_rng(0)
    drawn: dict[str, list[float]] = {p: [] for p in PLAYERS}
    for _ in range(resamples):
        data = []
        for i in rng.integers(0, len(items), len(items)):
            for a, b, score in by_item[items[i]]:
                wins = round(2 * score)
                data += [(index[a], index[b])] * wins + [(index[b], index[a])] * (2 - wins)
        params = choix.opt_pairwise(len(PLAYERS), data, alpha=0.1)
        for p in PLAYERS:
            drawn[p].append(math.exp(params[index[p]] - params.mean()))
    return {p: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for p, v in drawn.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2400)
    args = parser.parse_args()
    print(machine())
    path = Path(tempfile.mkdtemp(prefix="bench-scorecard-")) / "ratings.csv"
    ratings = ratings_file(path, args.items)
    command = [sys.executable, "-m", "lib", "scorecard", str(path), "--tuned", "tuned", "--baseline", "base", "--json"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=PROJECT_DIR)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    choix_bootstrap(ratings)
    baseline = time.perf_counter() - start
    print(f"{args.items:,} items, {len(ratings):,} ratings, 3 contenders, 200 bootstrap resamples")
    print(f"python -m lib scorecard (whole command, process start included): {ours:.1f} s (target < 10 s)")
    print(f"the former Bradley-Terry bootstrap alone (choix per resample):     {baseline:.1f} s")
    seconds("scorecard_2400_items", ours)
    ratio("scorecard_vs_choix_bootstrap", baseline / ours)


if __name__ == "__main__":
    main()
