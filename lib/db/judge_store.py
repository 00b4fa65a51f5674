"""Judges of a run and their votes (lib/judge/votes.py), each vote saved as it comes so a cancel keeps them."""

from __future__ import annotations

import json

from sqlalchemy import delete, select

from lib.db.connection import connect, now, transaction, upsert
from lib.db.schema import judge_votes, judges
from lib.judge.votes import Judge, JudgeVote


def save_judge(judge: Judge) -> Judge:
    """Record a judge of a run. One of the same name with the same model, provider, prompt and examples keeps its
    votes (judging goes on where it stopped); any other change starts its votes afresh."""
    earlier = next((j for j in run_judges(judge.run_id) if j.name == judge.name), None)
    same = earlier is not None and (earlier.model, earlier.provider, earlier.prompt, earlier.calibration) == (
        judge.model, judge.provider, judge.prompt, judge.calibration)  # fmt: skip
    if same and earlier is not None:
        return earlier
    row = {"run_id": judge.run_id, "name": judge.name, "model": judge.model, "provider": judge.provider,
           "prompt": judge.prompt, "calibration": json.dumps(list(judge.calibration)),
           "created_at": judge.created_at or now()}  # fmt: skip
    with transaction() as conn:
        conn.execute(delete(judge_votes).where(judge_votes.c.run_id == judge.run_id, judge_votes.c.judge == judge.name))
        upsert(conn, judges, row, ["run_id", "name"], "name")
    return Judge(judge.run_id, judge.name, judge.model, judge.provider, judge.prompt, judge.calibration,
                 str(row["created_at"]))  # fmt: skip


def run_judges(run_id: int) -> list[Judge]:
    with connect() as conn:
        rows = conn.execute(select(judges).where(judges.c.run_id == run_id).order_by(judges.c.created_at)).fetchall()
    return [Judge(r.run_id, r.name, r.model, r.provider, r.prompt, tuple(json.loads(r.calibration)), r.created_at)
            for r in rows]  # fmt: skip


def save_vote(vote: JudgeVote) -> None:
    row = {"run_id": vote.run_id, "judge": vote.judge, "position": vote.position, "left_contender": vote.left,
           "right_contender": vote.right, "first_choice": vote.first_choice, "second_choice": vote.second_choice,
           "winner": vote.winner, "criteria": json.dumps(vote.criteria), "prompt_tokens": vote.prompt_tokens,
           "completion_tokens": vote.completion_tokens, "latency_s": vote.latency_s,
           "cost_usd": vote.cost_usd}  # fmt: skip
    with transaction() as conn:
        upsert(conn, judge_votes, row, ["run_id", "judge", "position"], "judge")


def run_votes(run_id: int, judge: str | None = None) -> list[JudgeVote]:
    query = select(judge_votes).where(judge_votes.c.run_id == run_id)
    if judge is not None:
        query = query.where(judge_votes.c.judge == judge)
    with connect() as conn:
        rows = conn.execute(query.order_by(judge_votes.c.judge, judge_votes.c.position)).fetchall()
    return [
        JudgeVote(r.run_id, r.judge, r.position, r.left_contender, r.right_contender, r.first_choice,
                  r.second_choice, r.winner, json.loads(r.criteria), r.prompt_tokens, r.completion_tokens,
                  r.latency_s, r.cost_usd)
        for r in rows
    ]  # fmt: skip
