"""The store under a team: ratings per second held by 8 reviewers rating at once (8 processes, through the review
queue as Rate does: reserve, then save), and the Examples screen's rerun time at 50,000 examples, on SQLite and
on PostgreSQL (a throwaway local cluster) in one run.

    python -m bench.store [--reviewers 8] [--items 100] [--examples 50000]

Every rating must arrive: the run's ratings are counted after the reviewers finish (zero lost).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from typing import Any

from bench import machine, ratio, seconds

CONTENDERS = [{"label": "base", "model": "m"}, {"label": "tuned", "model": "t"}]


def _reviewer(environment: dict[str, str], run_id: int, name: str, start: Any) -> tuple[int, float, float]:
    os.environ.update(environment)
    from lib.db import run_store
    from lib.judge import rating

    run = run_store.get_run(run_id)
    start.wait()
    began, done = time.perf_counter(), 0
    while (assignment := rating.next_assignment(run, name)[0]) is not None:
        rating.rate(run, name, assignment, "A", {assignment.left: [], assignment.right: []})
        done += 1
    return done, began, time.perf_counter()


def reviewers_at_once(environment: dict[str, str], n_reviewers: int, n_items: int) -> tuple[float, int, int]:
    """Ratings per second, ratings saved, ratings expected (every reviewer rates every item)."""
    from lib.db import connection, run_store

    os.environ.update(environment)
    connection.forget_engines()

    items = [("", [{"role": "user", "content": f"Tell me about element {i}"}]) for i in range(n_items)]
    settings = {"repeat_share": 0.0, "rubric": []}
    run = run_store.create_run("bench", "local", "bench", settings, CONTENDERS, items, reviews_needed=n_reviewers)
    connection.forget_engines()  # no pooled connection crosses into the reviewers' processes
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(n_reviewers)
        with context.Pool(n_reviewers) as pool:
            jobs = [
                pool.apply_async(_reviewer, (environment, run.id, f"Reviewer {k}", start)) for k in range(n_reviewers)
            ]
            results = [job.get(timeout=1800) for job in jobs]
    wall = max(end for _, _, end in results) - min(began for _, began, _ in results)
    saved = len(run_store.run_ratings(run.id))
    return saved / wall, saved, n_reviewers * n_items


def examples_rerun(environment: dict[str, str], n_examples: int) -> tuple[float, float, float]:
    """Seconds to import ``n_examples`` into a new dataset (one transaction), for the Examples screen's first run
    on it, and for a rerun (median of 3)."""
    os.environ.update(environment)
    import statistics

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from lib.curate.dataset import NewRow
    from lib.db import dataset_store
    from lib.openai_format.examples import single_turn
    from lib.settings import PROJECT_DIR

    rows = [
        NewRow(single_turn("Elle", f"Tell me about element {i}.", f"A limerick, number {i}."))
        for i in range(n_examples)
    ]
    began = time.perf_counter()
    dataset = dataset_store.create_dataset(f"Bench {n_examples}", rows)
    imported = time.perf_counter() - began
    st.cache_data.clear()
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=600)
    at.session_state["dataset_choice"] = dataset.id
    at.run()
    at.switch_page("pages/examples.py")
    began = time.perf_counter()
    at.run()
    first = time.perf_counter() - began
    assert not at.exception, at.exception
    reruns = []
    for _ in range(3):
        began = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - began)
    assert any(f"of {n_examples} examples" in c.value for c in at.caption), "the screen did not show the dataset"
    return imported, first, statistics.median(reruns)


def _in_process(function: Any, *arguments: Any) -> Any:
    """A measurement in a fresh process: no engine, cache or import left over from the other store."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(function, arguments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--examples", type=int, default=50_000)
    args = parser.parse_args()
    print(machine())
    from tests.postgres import Cluster

    cluster = Cluster()
    try:
        stores = {
            "sqlite": {"STUDIO_DATA_DIR": tempfile.mkdtemp(prefix="bench-store-"), "STUDIO_DATABASE_URL": ""},
            "postgresql": {
                "STUDIO_DATA_DIR": tempfile.mkdtemp(prefix="bench-store-"),
                "STUDIO_DATABASE_URL": cluster.database(),
            },
        }
        figures: dict[str, dict[str, float]] = {}
        for name, environment in stores.items():
            environment = {**environment, "STUDIO_LOCAL_AUTOSTART": "0", "STUDIO_LOCAL_URL": "http://127.0.0.1:9/v1"}
            per_second, saved, expected = reviewers_at_once(environment, args.reviewers, args.items)
            imported, first, rerun = _in_process(examples_rerun, environment, args.examples)
            figures[name] = {
                "per_second": per_second, "lost": expected - saved, "import": imported, "first": first, "rerun": rerun,
            }  # fmt: skip
            print(
                f"{name}: {per_second:.0f} ratings/s by {args.reviewers} reviewers, {saved} of {expected} saved; "
                f"import {imported:.2f} s; Examples first run {first:.2f} s, rerun {rerun:.2f} s",
                flush=True,
            )
    finally:
        cluster.stop()
    print(f"\n{'store':<12}{'ratings/s':>11}{'lost':>6}{'import s':>10}{'first run s':>13}{'rerun s':>9}")
    for name, f in figures.items():
        print(
            f"{name:<12}{f['per_second']:>11.0f}{f['lost']:>6.0f}{f['import']:>10.2f}{f['first']:>13.2f}{f['rerun']:>9.2f}"
        )
    ratio("ratings_postgresql_vs_sqlite", figures["postgresql"]["per_second"] / figures["sqlite"]["per_second"])
    for name, f in figures.items():
        seconds(f"import_{args.examples}_{name}", f["import"])
        seconds(f"examples_rerun_{name}", f["rerun"])
    if any(f["lost"] for f in figures.values()):
        raise SystemExit("ratings were lost")


if __name__ == "__main__":
    main()
