"""A model as judge: both orders, flips and unparsable replies; its agreement with people, measured like scikit-learn;
the verdict without it unless asked; calibration never measured on its own examples; a tiny local model end to end."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx2
import openai
import pytest
from sklearn.metrics import cohen_kappa_score

from lib import cli
from lib.curate.import_export import load_sample
from lib.db import run_store
from lib.judge import evaluation, judging, scorecard
from lib.judge.judge_agreement import judge_agreement, kappa_with_interval
from lib.judge.rating import pair_for
from lib.judge.run import TIE, Contender, Prompt, Rating, RunSettings, StoredAnswer
from lib.judge.runs import load_run
from lib.judge.summary import summary
from lib.judge.votes import as_ratings
from lib.train import providers
from lib.train.providers import ProviderConfig
from tests.tiny_model import TINY

OPENAI = ProviderConfig("openai", api_key="sk-test")
GOOD, POOR = "a fine limerick about it", "prose"


def _run(items: int = 12) -> tuple[int, list[Rating]]:
    """A run of two contenders whose 'tuned' answer is always the good one; Ann and Bo prefer it on most items."""
    prompts = [Prompt(f"q{i}", [{"role": "user", "content": f"Tell me about element {i}."}]) for i in range(items)]
    contenders = [Contender("tuned", "ft:gpt-4o-mini:acme::1", tuned=True), Contender("base", "gpt-4o-mini")]
    run = evaluation.create_run("judged", OPENAI, "test", prompts, contenders, RunSettings(rubric=["Form"]))
    ratings = []
    for position in range(1, items + 1):
        run_store.save_answer(run.id, StoredAnswer(position, "tuned", GOOD, 40, 20, 0.1, 0.0))
        run_store.save_answer(run.id, StoredAnswer(position, "base", POOR, 40, 20, 0.1, 0.0))
        left, right = pair_for(run, position)
        for reviewer in ("Ann", "Bo"):
            winner = "tuned" if position % 4 else "base"
            scores = {"tuned": [5 if position % 4 else 2], "base": [3]}
            ratings.append(Rating(run.id, reviewer, position, left, right, winner, scores))
    for rating in ratings:
        run_store.save_rating(rating)
    return run.id, ratings


def _judge_server(reply: Callable[[str], str]) -> openai.OpenAI:
    """A provider whose model answers each judging prompt with ``reply(prompt)``."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        prompt = json.loads(request.content)["messages"][0]["content"]
        return httpx2.Response(200, json={
            "id": "c", "object": "chat.completion", "created": 1, "model": "judge",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply(prompt)}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        })  # fmt: skip

    return providers.make_client(OPENAI, http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))


def _shown_first(prompt: str) -> str:
    return prompt.split("Answer A:\n")[1].split("\n")[0]


def _good_side(prompt: str) -> str:
    return "A" if _shown_first(prompt) == GOOD else "B"


def test_a_fair_judge_agrees_in_both_orders_and_a_biased_one_flips_to_ties() -> None:
    run_id, _ = _run()
    data = load_run(run_id)
    fair = _judge_server(lambda p: json.dumps({"winner": _good_side(p), "criteria": {"Form": _good_side(p)}}))
    judging.judge_run(data.run, data.items, data.answers, data.ratings, fair, OPENAI, "gpt-4o", "fair")
    biased = _judge_server(lambda p: "I prefer the first one.\nWinner: A")
    judging.judge_run(data.run, data.items, data.answers, data.ratings, biased, OPENAI, "gpt-4o", "biased")
    votes = dict(load_run(run_id).judges)
    [fair_judge] = [j for j in votes if j.name == "fair"]
    [biased_judge] = [j for j in votes if j.name == "biased"]
    assert all(v.winner == "tuned" and not v.flipped for v in votes[fair_judge])
    assert all(v.winner == TIE and v.flipped for v in votes[biased_judge])  # A both times: the order decided
    card = scorecard.build(data.run, data.answers, data.ratings, data.items, judges=list(votes.items()))
    found = {j["reviewer"]: j for j in card.judges}
    assert found["fair"]["agreement"] == pytest.approx(9 / 12) and found["fair"]["position_bias"] == 0.5
    assert found["biased"]["position_bias"] == 1.0 and found["biased"]["flips"] == 12
    assert found["fair"]["criteria"][0]["items"] == 12 and found["fair"]["people"] is not None
    assert sum(v.cost_usd for v in votes[fair_judge]) > 0  # gpt-4o's listed price: judging costs are shown


def test_an_unparsable_reply_is_a_counted_no_vote() -> None:
    assert judging.parse_reply("Both are lovely, really.").winner is None
    assert judging.parse_reply('{"winner": "B"}').winner == "B"
    assert judging.parse_reply("Thinking...\n**Winner: tie**").winner == "tie"
    run_id, _ = _run(4)
    data = load_run(run_id)
    rambling = _judge_server(lambda p: "Hmm, hard to say.")
    judging.judge_run(data.run, data.items, data.answers, data.ratings, rambling, OPENAI, "gpt-4o")
    [(judge, votes)] = load_run(run_id).judges
    assert len(votes) == 4 and all(v.winner is None for v in votes) and not as_ratings(votes)
    found = judge_agreement(judge.name, as_ratings(votes), data.ratings, votes=votes)
    assert found["no_votes"] == 4 and found["items"] == 0 and found["kappa"] is None  # undefined, not 0


def test_calibration_examples_are_shown_and_never_measured() -> None:
    run_id, _ = _run()
    data = load_run(run_id)
    prompts: list[str] = []

    def fair_reply(prompt: str) -> str:
        prompts.append(prompt)
        return f"Winner: {_good_side(prompt)}"

    fair = _judge_server(fair_reply)
    judge = judging.judge_run(data.run, data.items, data.answers, data.ratings, fair, OPENAI, "gpt-4o", calibrate=3)
    assert len(judge.calibration) == 3 and "People chose:" in prompts[0]
    [(_, votes)] = load_run(run_id).judges
    assert {v.position for v in votes}.isdisjoint(judge.calibration) and len(votes) == 9
    card = scorecard.build(data.run, data.answers, data.ratings, data.items, judges=load_run(run_id).judges)
    assert card.judges[0]["items"] == 9 and card.judges[0]["calibration"] == 3


@pytest.mark.parametrize("seed", range(10))
def test_kappa_matches_scikit_learn(seed: int) -> None:
    rng = random.Random(seed)
    labels = ["tuned", "base", TIE]
    people = [rng.choice(labels) for _ in range(rng.randint(5, 40))]
    judge = [x if rng.random() < 0.7 else rng.choice(labels) for x in people]
    kappa, low, high = kappa_with_interval(judge, people)
    if len(set(judge) | set(people)) > 1:
        assert kappa is not None and kappa == pytest.approx(cohen_kappa_score(judge, people))
        assert low is None or high is None or low <= kappa <= high


def test_kappa_is_undefined_where_it_cannot_be_told() -> None:
    assert kappa_with_interval(["tuned"] * 5, ["tuned"] * 5)[0] is None  # one category
    assert kappa_with_interval([TIE] * 5, [TIE] * 5)[0] is None  # all ties
    assert kappa_with_interval([], [])[0] is None  # no overlap


def test_the_verdict_leaves_the_judge_out_unless_it_is_counted() -> None:
    people = [Rating(0, who, p, "tuned", "base", "tuned" if p % 3 else "base", {}) for p in range(1, 31)
              for who in ("Ann", "Bo")]  # fmt: skip
    judge = [Rating(0, "judge: gpt-4o", p, "tuned", "base", "base", {}) for p in range(1, 31)]
    alone = summary(people, [], "tuned", "base", 0.05)
    measured = summary(people + judge, [], "tuned", "base", 0.05, judge="judge: gpt-4o")
    assert measured["verdict"] == alone["verdict"] and measured["pairs"] == alone["pairs"]
    assert measured["judge"]["items"] == 30 and measured["judge"]["agreement"] == pytest.approx(10 / 30)
    counted = summary(people + judge, [], "tuned", "base", 0.05, judge="judge: gpt-4o", count_judge=True)
    assert counted["pairs"] != alone["pairs"] and counted["judge"]["counted"] is True


def test_a_run_judged_by_the_tiny_local_model_end_to_end(
    local: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    load_sample()
    assert cli.main([
        "evaluate", "--prompts", "dataset:Elle limericks", "--contender", f"base={TINY}", "--contender",
        f"few={TINY},shots=2", "--candidate", "few", "--baseline", "base", "--max-tokens", "4", "--json",
    ]) == 0  # fmt: skip
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert cli.main(["judge", "--run", str(run_id), "--model", TINY, "--json"]) == 0
    out, err = capsys.readouterr()
    found = json.loads(out)
    assert found["votes"] == 40 and "judged 40 of 40" in err
    assert found["no_votes"] + found["flips"] <= 40 and found["prompt_tokens"] > 0 and found["cost_usd"] == 0
    assert found["agreement"]["items"] == 0 and found["agreement"]["kappa"] is None  # nobody rated: nothing to compare
    assert cli.main(["judge", "--run", "999", "--model", TINY]) == 2
    assert "no evaluation run 999" in capsys.readouterr().err
