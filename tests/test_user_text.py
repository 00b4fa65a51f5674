"""User text is shown as text on every screen: a Markdown image in a dataset name, a prompt, an answer, a note or a
reviewer's name must not become an image (a tracking beacon every reviewer's browser would fetch)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.curate.dataset import NewRow
from lib.db import dataset_store, run_store
from lib.judge import evaluation
from lib.judge.run import Contender, Prompt, Rating, RunSettings, StoredAnswer
from lib.openai_format.examples import single_turn
from lib.train.providers import ProviderConfig
from tests.test_pages import open_page

BEACON = "![p](http://127.0.0.1:8799/pixel.png?leak=reviewer)"


def rendered(at: AppTest) -> list[str]:
    """The Markdown source of every element that renders Markdown."""
    kinds = ("markdown", "caption", "title", "header", "subheader", "success", "info", "warning", "error", "toast")
    return [str(getattr(element, "value", "")) for kind in kinds for element in at.get(kind)]


def test_a_markdown_image_in_user_text_is_never_rendered() -> None:
    dataset = dataset_store.create_dataset(f"Elle {BEACON}", [NewRow(single_turn("s", f"Q {BEACON}", f"A {BEACON}"))])
    row = dataset_store.rows(dataset.id)[0]
    dataset_store.update_rows(dataset.id, {row.id: {"note": BEACON}})
    prompt = [Prompt("p", [{"role": "user", "content": f"Earlier {BEACON}"}, {"role": "assistant", "content": BEACON},
                           {"role": "user", "content": f"Tell me {BEACON}"}])]  # fmt: skip
    contenders = [Contender("tuned", "ft:m:o::1", tuned=True), Contender("base", "m")]
    run = evaluation.create_run(f"Run {BEACON}", ProviderConfig("local"), "p", prompt, contenders,
                                RunSettings(repeat_share=0.0))  # fmt: skip
    for label in ("tuned", "base"):
        run_store.save_answer(run.id, StoredAnswer(1, label, f"Answer {BEACON}", 1, 1, 0.1, 0.0))
    run_store.save_rating(Rating(run.id, "Bo", 1, "tuned", "base", "tuned", {}, note=BEACON))

    for page in ("pages/examples.py", "pages/conversation.py", "pages/history.py", "pages/datasets.py",
                 "pages/scorecard.py", "pages/costs.py"):  # fmt: skip
        at = open_page(page)
        assert not [text for text in rendered(at) if BEACON in text], page
    at = open_page("pages/rate.py")
    at.text_input(key="rate_reviewer").input(BEACON).run()
    shown = rendered(at)
    assert not [text for text in shown if BEACON in text]
    assert any("Tell me" in text for text in shown)  # the prompt is there, as text
