"""Rhyme-guided decoding on the local server: lines made to end on rhymes, facts and the model's choices kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import openai
import pytest
import torch

from lib.curate.import_export import load_sample
from lib.errors import RunError
from lib.judge import evaluation
from lib.judge.run import Contender, RunSettings, default_label
from lib.judge.scripted import parse_contender
from lib.local import rhyme_guide
from lib.local.decoding import Sampling, generate
from lib.local.rhyme_guide import Ending, RhymeGuide, best_rhyme
from lib.local.serving import Served, TorchDecoder
from lib.rhymes import is_limerick, words_rhyme
from lib.train.providers import ProviderConfig
from tests.test_pages import button, open_page
from tests.tiny_model import TINY, byte_tokenizer

WRITTEN = (  # what the scripted model writes: line 2 does not rhyme
    "Helium, He, number two,\nIs a gas that is light,\nIt floats up on high,\nIn balloons in the sky,\n"
    "And it squeaks when you breathe it, it's true.\nThat is all."
)
PREFERRED = (  # what it would write if line 2 had to end on a rhyme of "two": "new", of all the rhymes of "two"
    "Helium, He, number two,\nIs a gas that is new,\nIt floats up on high,\nIn balloons in the sky,\n"
    "And it squeaks when you breathe it, it's true."
)


class ScriptedDecoder:
    """A model that writes the first of its texts that the answer so far begins, one byte a token (the next such
    text is its second choice, and so on); past the end of a text, the end of the answer; off every text, no
    preference."""

    context = 4096

    def __init__(self, tokenizer: object, prompt: list[int], texts: list[str]) -> None:
        self.tokenizer, self.prompt, self.texts = tokenizer, prompt, texts
        self.ids: list[int] = []

    def start(self, ids: list[int]) -> torch.Tensor:
        self.ids = list(ids)
        return self._logits()

    def step(self, token: int) -> torch.Tensor:
        self.ids.append(token)
        return self._logits()

    def _logits(self) -> torch.Tensor:
        logits = torch.zeros(len(self.tokenizer))  # type: ignore[arg-type]
        so_far = str(self.tokenizer.decode(self.ids[len(self.prompt) :]))  # type: ignore[attr-defined]
        weight = 20.0
        for text in self.texts:
            if text.startswith(so_far):
                rest = text[len(so_far) :]
                wanted = self.tokenizer.encode(rest[0])[0] if rest else self.tokenizer.eos_token_id  # type: ignore[attr-defined]
                logits[wanted] = max(float(logits[wanted]), weight)
                weight /= 2
        return logits


@dataclass
class ScriptedServed(Served):
    script: ScriptedDecoder | None = None

    @property
    def context(self) -> int:
        return ScriptedDecoder.context

    @contextmanager
    def answering(self) -> Iterator[ScriptedDecoder]:
        assert self.script is not None
        yield self.script


def answer(texts: list[str], scheme: str | None) -> str:
    tokenizer = byte_tokenizer()
    prompt = tokenizer.encode("<|im_start|>user\nTell me about helium.<|im_end|>\n<|im_start|>assistant\n")
    served = ScriptedServed(tokenizer, {tokenizer.eos_token_id}, script=ScriptedDecoder(tokenizer, prompt, texts))
    pieces = list(generate(served, prompt, Sampling(max_tokens=400, temperature=0, rhyme_scheme=scheme)))
    assert pieces[-1].finish_reason == "stop"
    return "".join(piece.text for piece in pieces)


def test_a_line_that_must_rhyme_ends_on_the_rhyme_the_model_likes_best() -> None:
    assert not is_limerick(WRITTEN)
    assert answer([WRITTEN, PREFERRED], None) == WRITTEN  # as the model writes, without a scheme
    rhymed = answer([WRITTEN, PREFERRED], "AABBA")
    assert rhymed == PREFERRED and is_limerick(rhymed)  # "new" among the rhymes of "two"; the rest as it wrote it


def test_lines_that_rhyme_already_are_kept_and_the_answer_ends_after_the_fifth() -> None:
    assert answer([PREFERRED + "\nThat is all."], "AABBA") == PREFERRED


def test_a_rhymed_answer_does_not_end_before_its_last_line() -> None:
    four_lines = PREFERRED.rsplit("\n", 1)[0]
    assert answer([four_lines, PREFERRED], None) == four_lines  # the model would end after line four
    assert answer([four_lines, PREFERRED], "AABBA") == PREFERRED  # its next choice, a line break, then line five
    assert answer([four_lines + "\n", PREFERRED], "AABBA") == PREFERRED  # and after line four's line break


def test_the_guide_keeps_numbers_real_rhymes_and_lines_that_end_on_no_word() -> None:
    guide = RhymeGuide("AABBA")
    assert guide.needs_rhyme("anything") == []  # the first line rhymes with no earlier line
    guide.end_line("Vanadium, V, number twenty-three,")
    assert guide.needs_rhyme("me") == [] and guide.needs_rhyme("twenty") == []  # a rhyme, a number: kept
    assert "three" not in guide.needs_rhyme("three")  # the same word is no rhyme
    rhymes = guide.needs_rhyme("light")
    assert {"see", "free", "tree"} <= set(rhymes) and all(words_rhyme("three", word) for word in rhymes)
    guide.end_line("Is a metal, you see,")
    guide.end_line("Its number is 23")
    assert guide.needs_rhyme("light") == []  # line 3 ended on no word: line 4 has nothing to rhyme with
    assert rhyme_guide.last_word("Its number is 23") is None


def test_the_best_rhyme_is_scored_whole_with_the_lines_ending() -> None:
    """Two rhymes that begin alike: the one whose whole word, then the line break, the model likes better wins."""
    tokenizer = byte_tokenizer()
    encode = tokenizer.encode
    prompt = encode("Q:")

    def logits_after(ids: list[int]) -> torch.Tensor:
        logits = torch.zeros(len(tokenizer))
        text = str(tokenizer.decode(ids[len(prompt) :]))
        wanted = "A line that ends on free,\n"
        if wanted.startswith(text) and len(text) < len(wanted):
            logits[encode(wanted[len(text)])[0]] = 5.0
        return logits

    ending = Ending("A line that ends on", ",\n", [])
    assert best_rhyme(logits_after, encode, prompt, ending, ["fee", "free", "flea", "sea"]) == "free"


def test_a_torch_decoder_reuses_its_cache_and_gives_the_logits_of_a_fresh_start(tiny_model: object) -> None:
    first, second = [5, 6, 7, 8, 9, 10], [5, 6, 7, 30, 31]
    decoder = TorchDecoder(tiny_model)
    decoder.start(first)
    reused = decoder.start(second)
    assert decoder.cached == second
    assert torch.allclose(reused, TorchDecoder(tiny_model).start(second), atol=1e-5)
    assert torch.allclose(decoder.start(second[:4]), TorchDecoder(tiny_model).start(second[:4]), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> object:
    from transformers import AutoModelForCausalLM

    from tests.tiny_model import prepare

    folder = tmp_path_factory.mktemp("tiny")
    prepare(folder)
    return AutoModelForCausalLM.from_pretrained(folder).eval()


def test_a_model_that_writes_only_line_breaks_stops_at_its_token_budget() -> None:
    tokenizer = byte_tokenizer()
    prompt = tokenizer.encode("Q:")
    served = ScriptedServed(tokenizer, {tokenizer.eos_token_id}, script=ScriptedDecoder(tokenizer, prompt, ["\n" * 99]))
    pieces = list(generate(served, prompt, Sampling(max_tokens=30, temperature=0, rhyme_scheme="AABBA")))
    assert pieces[-1].finish_reason == "length" and "".join(p.text for p in pieces) == "\n" * 30


def test_a_stopped_server_ends_a_rhymed_answer_early() -> None:
    tokenizer = byte_tokenizer()
    prompt = tokenizer.encode("Q:")
    stopping = threading.Event()
    stopping.set()
    served = ScriptedServed(tokenizer, {tokenizer.eos_token_id}, script=ScriptedDecoder(tokenizer, prompt, [WRITTEN]))
    pieces = list(generate(served, prompt, Sampling(temperature=0, rhyme_scheme="AABBA"), shutdown=stopping))
    assert pieces[-1].finish_reason == "length" and "".join(p.text for p in pieces) == "H"


class RecordingClient:
    """An openai client that records the request and answers 'ok'."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request: Any) -> Any:
        self.requests.append(request)
        message = SimpleNamespace(content="ok")
        return SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=None)


def test_a_rhymed_contender_asks_the_local_server_for_its_scheme_and_no_other_provider() -> None:
    rhymed = parse_contender("elle=ft:smollm2:local::abc,passages=3,rhymes=AABBA")
    assert (rhymed.rhymes, rhymed.passages, rhymed.kind) == ("AABBA", 3, "base + retrieval + rhymes")
    assert default_label("ft:smollm2:local::abc", 0, 3, "AABBA") == "tuned abc + 3 passages + rhymes"
    client = RecordingClient()
    messages = [{"role": "user", "content": "Tell me about neon."}]
    evaluation.ask(client, ProviderConfig("local"), rhymed, messages, RunSettings())  # type: ignore[arg-type]
    assert client.requests[-1]["extra_body"] == {"rhyme_scheme": "AABBA"}
    evaluation.ask(client, ProviderConfig("local"), Contender("plain", "m"), messages, RunSettings())  # type: ignore[arg-type]
    assert "extra_body" not in client.requests[-1]  # a plain contender asks as OpenAI's API does
    with pytest.raises(RunError, match="runs on the local provider only"):
        evaluation.ask(client, ProviderConfig("openai"), rhymed, messages, RunSettings())  # type: ignore[arg-type]
    with pytest.raises(RunError, match="rhymes=AABBA"):
        parse_contender("elle=m,rhymes=ABAB")


def test_compare_asks_a_contender_with_rhyming_lines(local: openai.OpenAI) -> None:
    load_sample()
    at = open_page("pages/compare.py")
    at.checkbox(key="compare_rhymes_1").check().run()
    at.number_input(key="compare_max_tokens").set_value(30).run()
    button(at, "Ask them").click().run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader] == [TINY, f"{TINY} + rhymes"]
