"""A factual Elle: the recipe the README recommends (trained with passages, rhyming lines) beside the plain tuned
model.

Run: python -m bench.elle [--data DIR] [--epochs N] [--passages 3] [--examples FILE]

On the shipped SmolLM2-135M-Instruct through the real local server: trains the 40 sample limericks (or the
examples of FILE) plain, and again with passages from data/elements.csv (the sample's sentence template, k
passages per prompt, half the examples with distractors), exactly as ``python -m lib train`` does. Then asks the
25 held-out questions of data/limericks-eval.jsonl (greedy, 120 tokens) to base, base + k passages, tuned, tuned
with passages + k passages, and the same with rhyming lines (the local server's rhyme-guided decoding, AABBA),
and prints per contender: element named, symbol right, atomic number right, limerick form by sound (Elle's
automatic checks), and each training's time. With --data, a folder kept between runs: the tuned models and
answers of an earlier run there are reused.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import local_server, machine
from lib.settings import SAMPLE_DIR

BASE = "smollm2-135m-instruct"
CHECKS = ("element_named", "symbol_right", "number_right", "limerick_form")


def trained(
    client: Any, config: Any, examples: Path, knowledge: Path | None, k: int, epochs: int | None
) -> tuple[str, float]:
    """The tuned model of an earlier run in this data folder with the same examples and recipe, else one trained
    now (``python -m lib train`` names the dataset after the file)."""
    from lib.db import provenance_store
    from lib.train import scripted

    for made in provenance_store.job_provenance("local").values():
        recipe = None if made.passages is None else made.passages.k
        same_examples = made.dataset_name == examples.name or made.dataset_name.startswith(f"{examples.name} ")
        if (
            made.status == "succeeded"
            and made.fine_tuned_model
            and same_examples
            and recipe == (k if knowledge else None)
        ):
            return made.fine_tuned_model, 0.0
    request = scripted.TrainRequest(examples, BASE, knowledge, k, epochs=epochs, seed=0)
    start = time.perf_counter()
    job = scripted.follow(client, config, scripted.start(client, config, request), say=lambda text: None)
    assert job.status == "succeeded" and job.fine_tuned_model, job.error
    took = time.perf_counter() - start
    print(f"trained {job.fine_tuned_model} ({'with' if knowledge else 'without'} passages): {took:.0f} s")
    return job.fine_tuned_model, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, help="training epochs (default: the server's auto)")
    parser.add_argument("--passages", type=int, default=3, help="passages per prompt, trained and asked")
    parser.add_argument("--data", type=Path, help="a data folder kept between runs")
    parser.add_argument("--examples", type=Path, default=SAMPLE_DIR / "limericks.jsonl", help="the training file")
    args = parser.parse_args()
    print(machine())
    from lib.db import run_store
    from lib.judge import evaluation
    from lib.judge.answer_checks import ELLE
    from lib.judge.prompts import eval_file_prompts
    from lib.judge.run import Contender, RunSettings, question_of
    from lib.retrieve.passages import SAMPLE_FILE, source_from_file
    from lib.rhymes import LIMERICK
    from lib.train.providers import ProviderConfig

    k = args.passages
    with local_server(args.data, "studio-elle-") as client:
        config = ProviderConfig("local")
        plain, plain_s = trained(client, config, args.examples, None, k, args.epochs)
        recipe, recipe_s = trained(client, config, args.examples, SAMPLE_FILE, k, args.epochs)
        source = source_from_file(SAMPLE_FILE)
        contenders = [
            Contender("base", BASE),
            Contender(f"base + {k} passages", BASE, passages=k),
            Contender("tuned", plain),
            Contender(f"tuned with passages + {k}", recipe, passages=k),
            Contender(f"tuned with passages + {k} + rhymes", recipe, passages=k, rhymes=LIMERICK),
        ]
        settings = RunSettings(knowledge_source=source.id, knowledge_version=source.version_id,
                               knowledge_name=source.name, checks=ELLE.name)  # fmt: skip
        prompts = eval_file_prompts()
        wanted = [asdict(c) for c in contenders]
        earlier = [r for r in run_store.list_runs() if r.name == "elle" and r.contenders == wanted]
        if earlier:
            run = earlier[0]
        else:
            run = evaluation.create_run("elle", config, "eval_file", prompts, contenders, settings)
        start = time.perf_counter()
        evaluation.generate(run, client, config)
        took = time.perf_counter() - start
        print(f"{len(prompts)} questions x {len(contenders)} contenders answered in {took:.0f} s")

    answers = run_store.run_answers(run.id)
    items = run_store.run_items(run.id)
    print(f"\n{'contender':<37}" + "".join(f"{key:>16}" for key in CHECKS) + f"{'train s':>10}")
    times = {"tuned": plain_s, f"tuned with passages + {k}": recipe_s}
    for contender in contenders:
        mine = [a for a in answers if a.contender == contender.label]
        results = [ELLE.run(question_of(items[a.position]), a.text) for a in mine]
        cells = "".join(f"{sum(r[key] is True for r in results):>13}/{len(results):<2}" for key in CHECKS)
        spent = times.get(contender.label)
        print(f"{contender.label:<37}{cells}{'' if spent is None else f'{spent:>10.0f}'}")
        for key in CHECKS:
            print(f"COUNT {contender.label.replace(' ', '_')}_{key} {sum(r[key] is True for r in results)}")
    for contender in contenders[2:]:
        print(f"\nExample answer of {contender.label}:")
        print(next(a.text for a in answers if a.contender == contender.label and a.position == 1))


if __name__ == "__main__":
    main()
