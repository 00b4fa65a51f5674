"""One question asked as Compare asks it, for scripts: ``python -m lib ask``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.curate.formats import read_file
from lib.errors import KnowledgeError, RunError
from lib.judge.evaluation import ask, request_messages, shot_pairs
from lib.judge.run import Contender, RunSettings
from lib.retrieve import passages as reading
from lib.retrieve.search import Hit, Index, retrieved_prompt
from lib.train import local_client
from lib.train.jobs import trained_with
from lib.train.providers import ENVIRONMENT, ProviderConfig, ProviderError, ProviderKind, from_settings, make_client

DEFAULT_PASSAGES = 3


@dataclass(frozen=True)
class Question:
    model: str
    user: str
    system: str = ""
    shots: int = 0  # question/answer pairs from ``examples`` placed before the question
    examples: Path | None = None
    knowledge: Path | None = None  # a knowledge file; its best ``passages`` go into the system prompt
    passages: int | None = None  # None: as many as the model was trained with, else 3
    template: str | None = None  # how the knowledge CSV's rows become passages; None: as the model was trained
    provider: ProviderKind = "local"
    temperature: float = 0.0
    max_tokens: int = 120
    rhymes: str = ""  # a rhyme scheme the local server makes the lines end on (AABBA); "": as the model writes


def _check(question: Question) -> None:
    if not question.user.strip():
        raise RunError("--user is empty: give the question to ask.")
    if question.shots < 0 or (question.passages is not None and question.passages < 1):
        raise RunError("--shots must be 0 or more and --passages 1 or more.")
    if not 0 <= question.temperature <= 2:
        raise RunError("--temperature must be between 0 and 2.")
    if question.max_tokens < 1:
        raise RunError("--max-tokens must be 1 or more.")
    if question.shots and question.examples is None:
        raise RunError("--shots needs --examples: a JSONL or CSV file of chat examples.")


def _shots(path: Path, k: int, asked: str) -> list[dict[str, Any]]:
    parsed = read_file(path.name, path.read_bytes())
    pairs = shot_pairs([example for _, example in parsed.valid_examples()], k, seed=0, asked=asked)
    if not pairs:
        raise RunError(f"{path.name} has no valid user/assistant example to use as a shot.")
    return pairs


def index_of_file(path: Path, template: str | None = None) -> Index:
    """A knowledge file's passages, searchable; ``template`` for a CSV (None: the sample's for Elle's file)."""
    template = reading.default_template(path) if template is None else template
    found = reading.read_file(path.read_bytes(), path.name, template=template or "")
    if not found.passages:
        why = found.findings[0].message if found.findings else "it is empty"
        raise KnowledgeError(f"{path.name} has no passage to retrieve from: {why}")
    return Index(found.passages)


def script_provider(kind: ProviderKind) -> ProviderConfig:
    """The provider a command asks, from the environment; ProviderError when it cannot answer, saying how to fix it."""
    config = from_settings(kind, {}, {})
    if missing := config.missing():
        variables = [v for k, v in ENVIRONMENT.items() if k.startswith(kind)]
        raise ProviderError(f"{config.label} needs its {' and '.join(missing)}: set {', '.join(variables)}.")
    if config.kind == "local" and not local_client.answers():
        raise ProviderError(
            f"The local server does not answer at {local_client.base_url()}: start it with `python -m lib.local` "
            "(the app starts it too), or set STUDIO_LOCAL_URL to where it runs."
        )
    return config


def ask_once(question: Question) -> dict[str, Any]:
    """The answer, its tokens and latency, and the passages retrieved into its prompt."""
    _check(question)
    prompt = [{"role": "system", "content": question.system}] if question.system.strip() else []
    prompt.append({"role": "user", "content": question.user})
    shots = _shots(question.examples, question.shots, question.user) if question.shots and question.examples else []
    messages = request_messages(prompt, shots)
    config = script_provider(question.provider)
    hits: list[Hit] = []
    k = 0
    if question.knowledge is not None:
        trained = trained_with(config.kind, question.model)  # answering retrieves as the model was trained
        k = question.passages or (trained.k if trained else DEFAULT_PASSAGES)
        template = question.template
        if template is None:  # as the model was trained, else the sample's for Elle's file
            template = trained.template if trained else None
        messages, hits = retrieved_prompt(
            messages, index_of_file(question.knowledge, template), k, question.knowledge.name
        )
    contender = Contender(question.model, question.model, question.shots, k if hits else 0, rhymes=question.rhymes)
    settings = RunSettings(temperature=question.temperature, max_tokens=question.max_tokens)
    answer = ask(make_client(config), config, contender, messages, settings)
    retrieved = [
        {"text": hit.passage.text, "source": f"{hit.passage.file}, {hit.passage.origin}", "score": round(hit.score, 3)}
        for hit in hits
    ]
    return {
        "answer": answer.text,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "latency_s": round(answer.latency_s, 3),
        "retrieved": retrieved,
    }
