"""Prompt, retrieve or fine-tune, measured on Elle's sample with the real SmolLM2 through the real local server.

Run: python -m bench.approaches [--epochs N] [--passages 3] [--data DIR]

Trains SmolLM2-135M-Instruct on data/limericks.jsonl (40 examples), adds data/elements.csv as a knowledge
source, and asks the 25 held-out questions of data/limericks-eval.jsonl to four contenders: base,
base + retrieval, tuned, tuned + retrieval (greedy, 120 tokens). Prints each contender's automatic checks
(limerick form, element named, symbol right, atomic number right), prompt tokens and latency, then the
Scorecard's ranking of the approaches and its sentence. With --data, a folder kept between runs: the tuned
model and the answers of an earlier run there are reused.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import local_server, machine
from lib.settings import PROJECT_DIR

BASE = "smollm2-135m-instruct"


def tuned_model(client: object, epochs: int | None) -> tuple[str, float]:
    """The newest succeeded tuned model in this data folder, else one trained now; and training seconds."""
    import openai

    assert isinstance(client, openai.OpenAI)
    done = [j for j in client.fine_tuning.jobs.list().data if j.status == "succeeded" and j.fine_tuned_model]
    if done:
        return str(done[0].fine_tuned_model), 0.0
    data = (PROJECT_DIR / "data" / "limericks.jsonl").read_bytes()
    uploaded = client.files.create(file=("limericks.jsonl", data), purpose="fine-tune")
    method: Any = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs} if epochs else {}}}
    start = time.perf_counter()
    job = client.fine_tuning.jobs.create(model=BASE, training_file=uploaded.id, method=method)
    while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
    assert job.status == "succeeded" and job.fine_tuned_model, job.error
    print(f"trained {job.fine_tuned_model}: {job.hyperparameters.n_epochs} epochs, {time.perf_counter() - start:.0f} s")
    return job.fine_tuned_model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, help="training epochs (default: the server's, as OpenAI picks them)")
    parser.add_argument("--passages", type=int, default=3, help="passages retrieved into the prompt")
    parser.add_argument("--data", type=Path, help="a data folder kept between runs")
    args = parser.parse_args()
    print(machine())
    from lib.db import run_store
    from lib.judge import approaches, evaluation
    from lib.judge.answer_checks import ELLE
    from lib.judge.prompts import eval_file_prompts
    from lib.judge.run import Contender, RunSettings, question_of
    from lib.retrieve.passages import load_sample_source
    from lib.train.providers import ProviderConfig

    with local_server(args.data, "studio-approaches-") as client:
        tuned, _ = tuned_model(client, args.epochs)
        source = load_sample_source()
        k = args.passages
        contenders = [
            Contender("base", BASE),
            Contender(f"base + {k} passages", BASE, passages=k),
            Contender("tuned", tuned),
            Contender(f"tuned + {k} passages", tuned, passages=k),
        ]
        settings = RunSettings(knowledge_source=source.id, knowledge_version=source.version_id,
                               knowledge_name=source.name)  # fmt: skip
        prompts = eval_file_prompts()
        config = ProviderConfig("local")
        earlier = [
            r
            for r in run_store.list_runs()
            if r.name == "approaches" and r.contenders == [asdict(c) for c in contenders]
        ]
        run = (
            earlier[0]
            if earlier
            else evaluation.create_run("approaches", config, "eval_file", prompts, contenders, settings)
        )
        start = time.perf_counter()
        evaluation.generate(run, client, config)  # only the answers an earlier run of this script did not give
        seconds = time.perf_counter() - start
        print(f"{len(prompts)} questions x {len(contenders)} contenders answered in {seconds:.0f} s")

    answers = run_store.run_answers(run.id)
    items = run_store.run_items(run.id)
    header = "".join(f"{key:>16}" for key in ELLE.checks)
    print(f"\n{'contender':<22}{header}{'prompt tok':>12}{'latency s':>11}")
    for contender in contenders:
        mine = [a for a in answers if a.contender == contender.label]
        results = [ELLE.run(question_of(items[a.position]), a.text) for a in mine]
        cells = "".join(f"{sum(r[key] is True for r in results):>13}/{len(results):<2}" for key in ELLE.checks)
        tokens = sum(a.prompt_tokens for a in mine) / len(mine)
        latency = sum(a.latency_s for a in mine) / len(mine)
        print(f"{contender.label:<22}{cells}{tokens:>12.0f}{latency:>11.2f}")
    rows = approaches.rank_run(run, answers, items, [], training_cost=0.0)
    print("\nThe Scorecard's ranking (share of checks passed per answer, 95% interval):")
    for row in rows:
        print(f"  {row.contender:<22}{row.approach:<26}{row.quality:.2f} [{row.low:.2f}, {row.high:.2f}]")
    print(approaches.recommend(rows, 10_000))
    for contender in contenders[1::2]:
        print(f"\nExample answer of {contender.label}:")
        print(next(a.text for a in answers if a.contender == contender.label and a.position == 1))


if __name__ == "__main__":
    main()
