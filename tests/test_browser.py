"""End to end in a real Chromium: curate the sample (edit, reload, export); train on it with the local provider;
rate answers blind and open the scorecard; the doctor and the data map; ratings to preference data to a DPO
model evaluated against the supervised one."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lib.db import run_store
from lib.judge import evaluation
from lib.judge.prompts import eval_file_prompts
from lib.judge.run import Contender, Prompt, RunSettings, StoredAnswer
from lib.settings import PROJECT_DIR, SAMPLE_DIR
from lib.train.providers import ProviderConfig
from tests.local_server import running_server, tiny_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing: make test installs it (apt-get install chromium).", pytrace=False)
    pytest.skip("Chromium is not installed (make test installs it where it can)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")
if TYPE_CHECKING:
    from playwright.sync_api import Page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_idle(page: Page) -> None:
    """Until the page's script run has ended (Streamlit shows its status widget while a run goes on)."""
    page.wait_for_timeout(1000)
    sync_api.expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=30_000)


@contextmanager
def serving_app(data_dir: Path, **env: str) -> Iterator[str]:
    """`streamlit run app.py` on a free port until the block ends; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    server = subprocess.Popen(command, cwd=PROJECT_DIR, env={**os.environ, "STUDIO_DATA_DIR": str(data_dir), **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not start within 60 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def app_url(data_dir: Path) -> Iterator[str]:
    with serving_app(data_dir) as url:
        yield url


def test_curate_the_sample_like_a_person(app_url: str, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        expect = sync_api.expect
        page.goto(app_url)
        page.get_by_role("button", name="Load the Elle sample").click()
        expect(page.get_by_text("Loaded the Elle sample.")).to_be_visible(timeout=20_000)
        expect(page.get_by_role("tab", name="Export")).to_be_visible()

        page.get_by_role("link", name="Examples").click()
        expect(page.get_by_text("40 of 40 examples")).to_be_visible(timeout=20_000)
        grid = page.locator('[data-testid="stDataFrame"]').first
        expect(grid).to_be_visible()
        page.wait_for_timeout(1000)  # the grid draws on a canvas after the element appears
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 60, box["y"] + 35 + 17)  # the "Row" cell of the first row
        for _ in range(3):  # Row -> Kind -> System -> User
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")  # open the cell editor
        page.wait_for_timeout(300)
        page.keyboard.press("Control+a")
        page.keyboard.type("Tell me about hydrogen, please.")
        page.wait_for_timeout(500)  # let the cell editor take the typed text before Enter commits it
        page.keyboard.press("Enter")
        expect(page.get_by_text("Undo: Edited 1 example").first).to_be_visible(timeout=20_000)

        page.reload()
        page.get_by_role("textbox", name="Search").fill("hydrogen, please")
        page.keyboard.press("Enter")
        expect(page.get_by_text("1 of 40 examples")).to_be_visible(timeout=20_000)

        page.get_by_role("link", name="Datasets").click()
        page.get_by_role("tab", name="Export").click()
        expect(page.get_by_text("Only approved examples (0 of 40)")).to_be_visible(timeout=20_000)
        wait_until_idle(page)  # a click during the run could hit the previous run's button and its old rows
        with page.expect_download() as download_info:
            page.get_by_role("button", name="JSONL (OpenAI)").click()
        exported = tmp_path / "export.jsonl"
        download_info.value.save_as(exported)
        lines = [json.loads(line) for line in exported.read_text().splitlines()]
        assert len(lines) == 40
        assert lines[0]["messages"][1] == {"role": "user", "content": "Tell me about hydrogen, please."}
        browser.close()


def test_a_double_clicked_import_imports_once_and_the_dataset_choice_stays(app_url: str, tmp_path: Path) -> None:
    three = tmp_path / "three.jsonl"
    three.write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]})
        + "\n" for i in range(3)
    ))  # fmt: skip
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        expect = sync_api.expect
        page.goto(app_url)
        page.get_by_role("button", name="Load the Elle sample").click()
        expect(page.get_by_text("Loaded the Elle sample.")).to_be_visible(timeout=20_000)
        page.get_by_role("tab", name="Import").click()
        page.locator('input[type="file"]').set_input_files(str(three))
        expect(page.get_by_text("3 examples read")).to_be_visible(timeout=20_000)
        wait_until_idle(page)
        page.get_by_role("button", name="Import", exact=True).dblclick()
        expect(page.get_by_text("Imported 3 examples into 'three'.")).to_be_visible(timeout=20_000)
        wait_until_idle(page)
        page.get_by_role("tab", name="Import").click()
        expect(page.get_by_text("This file was imported into 'three'.")).to_be_visible(timeout=20_000)
        # the new dataset is the one chosen, and it stays chosen on a page without the chooser and back
        page.get_by_role("link", name="Examples").click()
        expect(page.get_by_role("heading", name="Examples · three")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("3 of 3 examples")).to_be_visible()  # imported once, not twice
        page.get_by_role("link", name="Scorecard").click()
        expect(page.get_by_role("heading", name="Scorecard")).to_be_visible(timeout=20_000)
        page.get_by_role("link", name="Examples").click()
        expect(page.get_by_role("heading", name="Examples · three")).to_be_visible(timeout=20_000)
        browser.close()


def test_train_on_the_sample_and_watch_the_job_succeed(data_dir: Path, tmp_path: Path) -> None:
    with (
        running_server(tiny_settings(tmp_path / "local")) as local_url,
        serving_app(data_dir, STUDIO_LOCAL_URL=local_url) as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        expect = sync_api.expect
        page.goto(url)
        expect(page.get_by_text("Local provider: ready")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Load the Elle sample").click()
        expect(page.get_by_text("Loaded the Elle sample.")).to_be_visible(timeout=20_000)

        page.get_by_role("link", name="Train", exact=True).click()
        expect(page.get_by_text("Before you start")).to_be_visible(timeout=20_000)
        launch = page.get_by_role("button", name="Upload and start training")
        batch_size = page.get_by_role("textbox", name="Batch size")
        batch_size.fill("0")
        batch_size.press("Enter")  # an invalid number is said next to its field and blocks the launch
        expect(page.get_by_text("Batch size must be from 1 to 256")).to_be_visible(timeout=20_000)
        expect(launch).to_be_disabled()
        batch_size.fill("")
        batch_size.press("Enter")
        expect(page.get_by_text("Batch size must be from 1 to 256")).to_be_hidden(timeout=20_000)
        epochs = page.get_by_role("textbox", name="Epochs")
        epochs.fill("2")
        epochs.press("Enter")
        wait_until_idle(page)
        page.get_by_text("Stop when validation loss stops improving").click()
        expect(page.get_by_text("Patience (epochs without improvement)")).to_be_visible(timeout=20_000)
        page.get_by_role("textbox", name="Suffix").fill("elle")
        page.get_by_role("textbox", name="Suffix").press("Enter")
        wait_until_idle(page)
        expect(launch).to_be_enabled()
        launch.click()

        expect(page.get_by_role("heading", name="Fine-tuning jobs")).to_be_visible(timeout=30_000)
        # no reload from here on: the job view refreshes itself while the job runs
        expect(page.get_by_text("Tuned model: ft:tiny-llama:local:elle:")).to_be_visible(timeout=180_000)
        status = page.locator('[data-testid="stMetric"]').filter(has_text="Status")
        expect(status).to_contain_text("succeeded")
        expect(page.get_by_text("Download the result file (CSV)")).to_be_visible(timeout=20_000)
        # the best checkpoint is named: early stopping kept the epoch with the lowest validation loss
        expect(page.get_by_text("Early stopping kept the weights with the lowest validation loss")).to_be_visible()
        # the data map: one point per trained example; a click opens that example's row on Examples
        expect(page.get_by_text("Data map: 36 examples of Elle limericks by what training said")).to_be_visible()
        data_map = page.locator('[data-testid="stExpander"]').filter(has_text="Data map")
        point = data_map.locator(".mark-symbol path").first
        expect(point).to_be_attached(timeout=20_000)
        point.click(force=True)
        expect(page.get_by_role("heading", name="Examples · Elle limericks")).to_be_visible(timeout=20_000)
        expect(page.get_by_text(re.compile(r"Showing row \d+ only\."))).to_be_visible()
        expect(page.get_by_text("Training signal of ftjob-")).to_be_visible()
        browser.close()


def test_rate_two_items_blind_then_open_the_scorecard(data_dir: Path) -> None:
    items = [
        Prompt(f"q:{n}", [{"role": "user", "content": f"Tell me about {name}."}])
        for n, name in ((1, "neon"), (2, "iron"))
    ]
    contenders = [
        Contender("base", "smollm2-135m-instruct"),
        Contender("tuned", "ft:smollm2-135m-instruct:local::1", tuned=True),
    ]
    run = evaluation.create_run(
        "Elle check", ProviderConfig("local"), "two questions", items, contenders, RunSettings(repeat_share=0.0)
    )
    for position in (1, 2):
        run_store.save_answer(run.id, StoredAnswer(position, "base", "Prose about it.", 10, 5, 0.2, 0.0))
        run_store.save_answer(run.id, StoredAnswer(position, "tuned", "A verse,\nterse.", 10, 5, 0.2, 0.0))
    with serving_app(data_dir) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        expect = sync_api.expect
        page.goto(f"{url}/rate")  # a link a reviewer was sent, as the server's very first request
        expect(page.get_by_role("link", name="Scorecard", exact=True)).to_be_visible(timeout=20_000)  # app's nav
        expect(page.get_by_role("link", name="scorecard", exact=True)).to_have_count(0)  # not pages/ as files
        name = page.get_by_role("textbox", name="Your name")
        expect(name).to_be_visible(timeout=20_000)
        name.fill("Ada")
        name.press("Enter")
        prompt = page.get_by_text("Prompt:")
        expect(prompt).to_be_visible(timeout=20_000)
        hint = page.get_by_text("You can stop: even if every remaining item were rated")
        expect(hint).to_have_count(0)  # not before the reviewer's first rating
        skipped = "neon" if "neon" in prompt.inner_text() else "iron"  # each reviewer has an order of their own
        other = {"neon": "iron", "iron": "neon"}[skipped]
        page.get_by_role("button", name="Skip for now").click()  # it comes back once the other one is rated
        for done, asked in ((0, other), (1, skipped)):
            expect(page.get_by_text(f"Tell me about {asked}.")).to_be_visible(timeout=20_000)
            expect(page.get_by_text(f"{done} of 2 rated")).to_be_visible(timeout=20_000)
            wait_until_idle(page)  # a click on the form a rerun is replacing is lost (the skipped item's form)
            # names stay hidden until the rating is saved; then only the previous item's are revealed
            expect(page.get_by_text("tuned")).to_have_count(done)
            expect(page.get_by_test_id("stAlert").get_by_text("tuned")).to_have_count(done)
            for criterion in ("Follows the limerick form", "Factually correct", "Pleasant to read"):
                groups = page.get_by_role("radiogroup", name=criterion)
                groups.nth(0).get_by_text("4", exact=True).click()
                groups.nth(1).get_by_text("2", exact=True).click()
            page.get_by_role("radiogroup", name="Which answer is better?").get_by_text("A", exact=True).click()
            page.get_by_role("button", name="Save rating").click()
            expect(page.get_by_text("Saved. Item")).to_be_visible(timeout=20_000)
            if done == 0:  # two items can never settle the verdict: Rate says so once the reviewer has begun
                expect(hint).to_be_visible(timeout=20_000)
        expect(page.get_by_text("All 2 items rated. Thank you, Ada!")).to_be_visible(timeout=20_000)
        page.get_by_role("link", name="Open the scorecard").click()
        expect(page.get_by_text("Should we fine-tune?")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Not enough evidence yet to say whether fine-tuning pays off.")).to_be_visible()
        page.get_by_role("tab", name="Reviewers").click()
        expect(page.get_by_text("Picks left: how often a reviewer chose")).to_be_visible()
        browser.close()
    ratings = sorted(run_store.run_ratings(run.id), key=lambda r: r.created_at)
    positions = {"neon": 1, "iron": 2}
    assert [(r.reviewer, r.position, len(r.scores)) for r in ratings] == [
        ("Ada", positions[other], 2), ("Ada", positions[skipped], 2),
    ]  # fmt: skip
    assert all(r.scores[r.left] == [4, 4, 4] and r.winner == r.left for r in ratings)  # A was always picked


def test_the_scorecard_shows_a_judges_agreement_and_counts_it_only_when_asked(data_dir: Path) -> None:
    from lib.db import judge_store
    from lib.judge.rating import pair_for
    from lib.judge.run import Rating
    from lib.judge.votes import Judge, JudgeVote

    items = [Prompt(f"q:{n}", [{"role": "user", "content": f"Tell me about element {n}."}]) for n in range(1, 9)]
    contenders = [Contender("base", "smollm2-135m-instruct"),
                  Contender("tuned", "ft:smollm2-135m-instruct:local::1", tuned=True)]  # fmt: skip
    run = evaluation.create_run("Judged", ProviderConfig("local"), "eight", items, contenders, RunSettings())
    judge_store.save_judge(Judge(run.id, "judge: gpt-4o", "gpt-4o", "openai", "prompt"))
    for position in range(1, 9):
        left, right = pair_for(run, position)
        people_choice = "tuned" if position % 4 else "base"
        for reviewer in ("Ann", "Bo"):
            run_store.save_rating(Rating(run.id, reviewer, position, left, right, people_choice, {}))
        judge_store.save_vote(JudgeVote(run.id, "judge: gpt-4o", position, left, right, "A", "B",
                                        people_choice if position < 7 else "base"))  # agrees on 6 of 8  # fmt: skip
    with serving_app(data_dir) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        expect = sync_api.expect
        page.goto(f"{url}/scorecard")
        expect(page.get_by_text("Should we fine-tune?")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Counting the model judge")).to_have_count(0)  # people only, by default
        page.get_by_role("tab", name="Reviewers").click()
        expect(page.get_by_text("Judges (a model's votes against the reviewers' majority")).to_be_visible()
        expect(page.get_by_text("Compare a judge's kappa with how far people agree")).to_be_visible()
        page.get_by_role("combobox", name="Count a judge in the verdict").click()
        page.get_by_role("option", name="judge: gpt-4o").click()
        counted = page.get_by_text("Counting the model judge “judge: gpt-4o” as one more reviewer.")
        expect(counted).to_be_visible(timeout=20_000)
        page.screenshot(path=str(data_dir / "scorecard-judge.png"), full_page=True)
        browser.close()


def test_add_a_knowledge_source_and_compare_with_a_retrieval_contender(data_dir: Path, tmp_path: Path) -> None:
    with (
        running_server(tiny_settings(tmp_path / "local", start_worker=False)) as local_url,
        serving_app(data_dir, STUDIO_LOCAL_URL=local_url) as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        expect = sync_api.expect
        page.goto(f"{url}/knowledge")
        page.get_by_role("button", name="Load the elements sample").click()
        expect(page.get_by_text("Loaded the elements sample.")).to_be_visible(timeout=20_000)
        page.get_by_role("tab", name="Passages (118)").click()
        question = page.get_by_role("textbox", name="Try a question")
        question.fill("Tell me about neon.")
        question.press("Enter")
        top_hit = page.get_by_test_id("glide-cell-3-0")  # the table's first row, text column (drawn on a canvas)
        expect(top_hit).to_have_text("Neon has atomic number 10 and the symbol Ne.", timeout=20_000)

        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_text("Knowledge source for retrieval")).to_be_visible(timeout=20_000)
        page.get_by_role("combobox", name="Knowledge source for retrieval").click()
        page.get_by_role("option", name="Elements (sample) (118 passages)").click()
        wait_until_idle(page)
        page.get_by_role("radiogroup", name="Contenders").get_by_text("4", exact=True).click()
        wait_until_idle(page)
        expect(page.get_by_text("Passages retrieved")).to_have_count(4)
        page.get_by_role("button", name="Ask them").click()
        expect(page.get_by_text("Passages in its prompt (1)")).to_be_visible(timeout=60_000)
        page.get_by_text("Passages in its prompt (1)").click()
        expect(page.get_by_text("elements.csv, row 11")).to_be_visible()
        page.screenshot(path=str(tmp_path / "compare-retrieval.png"))
        browser.close()


def test_draft_examples_for_uncovered_elements_then_train_with_passages(data_dir: Path, tmp_path: Path) -> None:
    with (
        running_server(tiny_settings(tmp_path / "local")) as local_url,
        serving_app(data_dir, STUDIO_LOCAL_URL=local_url) as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        expect = sync_api.expect
        page.goto(url)
        expect(page.get_by_text("Local provider: ready")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Load the Elle sample").click()
        expect(page.get_by_text("Loaded the Elle sample.")).to_be_visible(timeout=20_000)
        page.goto(f"{url}/knowledge")
        page.get_by_role("button", name="Load the elements sample").click()
        expect(page.get_by_text("Loaded the elements sample.")).to_be_visible(timeout=20_000)

        page.get_by_role("link", name="Examples").click()
        page.get_by_text("Draft examples").click()
        expect(page.get_by_text("Examples to draft")).to_be_visible(timeout=20_000)
        drafts = page.get_by_role("spinbutton", name="Examples to draft")
        drafts.fill("2")
        drafts.press("Enter")
        wait_until_idle(page)
        page.get_by_role("combobox", name="Knowledge source").click()
        page.get_by_role("option", name="Elements (sample) (118 passages)").click()
        expect(
            page.get_by_text("78 of 118 passages of Elements (sample) are the answer to no example yet")
        ).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Draft", exact=True).click()
        expect(page.get_by_text(re.compile(r"^Drafted [12] examples? \(\d skipped\)"))).to_be_visible(timeout=120_000)
        page.screenshot(path=str(tmp_path / "drafted.png"))

        page.get_by_role("link", name="Train", exact=True).click()
        expect(page.get_by_text("Before you start")).to_be_visible(timeout=20_000)
        page.get_by_role("combobox", name="Train with passages from").click()
        page.get_by_role("option", name="Elements (sample)").click()
        expect(page.get_by_text("Distractor share")).to_be_visible(timeout=20_000)
        epochs = page.get_by_role("textbox", name="Epochs")
        epochs.fill("1")
        epochs.press("Enter")
        wait_until_idle(page)
        page.screenshot(path=str(tmp_path / "train-with-passages.png"))
        page.get_by_role("button", name="Upload and start training").click()
        expect(page.get_by_role("heading", name="Fine-tuning jobs")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Tuned model: ft:tiny-llama:local::")).to_be_visible(timeout=180_000)
        expect(page.get_by_text("Trained with passages: 3 passages per prompt from Elements (sample)")).to_be_visible()
        page.screenshot(path=str(tmp_path / "trained-with-passages.png"))
        page.goto(f"{url}/knowledge")
        page.get_by_text("Add a file", exact=True).click()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(SAMPLE_DIR / "elements.csv"))
        expect(page.get_by_text("Reads as:")).to_be_visible(timeout=20_000)  # the template's sentences, first
        expect(page.get_by_text("“Hydrogen has atomic number 1 and the symbol H.”")).to_be_visible()
        page.screenshot(path=str(tmp_path / "knowledge-template.png"))
        browser.close()


def test_the_doctor_finds_planted_problems_and_redacts_personal_data(data_dir: Path) -> None:
    from lib.curate.dataset import NewRow
    from lib.db import dataset_store
    from tests.test_doctor import planted

    dataset = dataset_store.create_dataset("Planted")
    dataset_store.add_rows(dataset.id, [NewRow(example) for _, example in planted()])
    with serving_app(data_dir) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        expect = sync_api.expect
        page.goto(f"{url}/examples")
        expect(page.get_by_text("26 of 26 examples")).to_be_visible(timeout=20_000)
        page.get_by_role("tab", name="Doctor").click()
        expect(page.get_by_text("3 errors, 5 warnings")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Holds personal data (1 e-mail address, 1 phone number)").first).to_be_visible()
        page.get_by_role("button", name="Redact row 20").click()
        expect(page.get_by_role("button", name="Undo: Redacted personal data in row 20")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("2 errors, 5 warnings")).to_be_visible()  # the doctor tab stays open
        assert dataset_store.rows(dataset.id)[19].example["messages"][-1]["content"] == (
            "Write to [email] or call [phone]."
        )
        browser.close()


def test_preference_data_from_ratings_trains_a_dpo_model_that_is_evaluated_against_the_supervised_one(
    data_dir: Path, tmp_path: Path
) -> None:
    import openai

    from lib.judge.run import Rating
    from tests.test_local_server import TEN, wait_for
    from tests.tiny_model import TINY

    with running_server(tiny_settings(tmp_path / "local")) as local_url:
        client = openai.OpenAI(base_url=local_url, api_key="local", max_retries=0)
        uploaded = client.files.create(file=("ten.jsonl", TEN), purpose="fine-tune")
        one_epoch: Any = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}}
        created = client.fine_tuning.jobs.create(model=TINY, training_file=uploaded.id, suffix="sft", method=one_epoch)
        supervised = str(wait_for(client, created.id, {"succeeded"}).fine_tuned_model)
        prompts = eval_file_prompts()[:12]
        contenders = [Contender("base", TINY), Contender("supervised", supervised)]
        run = evaluation.create_run("Elle rated", ProviderConfig("local"), "eval", prompts, contenders,
                                    RunSettings(repeat_share=0.0))  # fmt: skip
        for position in range(1, 13):
            run_store.save_answer(run.id, StoredAnswer(position, "base", "Prose.", 10, 2, 0.1, 0.0))
            run_store.save_answer(run.id, StoredAnswer(position, "supervised", "A verse,\nterse.", 10, 5, 0.1, 0.0))
            for reviewer in ("Ada", "Bo"):
                run_store.save_rating(Rating(run.id, reviewer, position, "base", "supervised", "supervised", {}))
        with serving_app(data_dir, STUDIO_LOCAL_URL=local_url) as url, sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            expect = sync_api.expect
            page.goto(f"{url}/scorecard")
            page.get_by_role("tab", name="Preference data").click()
            expect(page.get_by_text("12 rated pairs with a clear preference")).to_be_visible(timeout=20_000)
            page.get_by_role("button", name="Make preference data (12 examples)").click()
            expect(page.get_by_text("These are preference pairs: the job trains with")).to_be_visible(timeout=20_000)
            epochs = page.get_by_role("textbox", name="Epochs")
            epochs.fill("1")
            epochs.press("Enter")
            page.get_by_role("textbox", name="Suffix").fill("dpo")
            page.get_by_role("textbox", name="Suffix").press("Enter")
            wait_until_idle(page)
            page.get_by_role("button", name="Upload and start training").click()
            expect(page.get_by_text("Tuned model: ft:tiny-llama:local:dpo:")).to_be_visible(timeout=180_000)
            preferred = next(j for j in client.fine_tuning.jobs.list().data if j.method and j.method.type == "dpo")
            tuned = str(preferred.fine_tuned_model)

            page.get_by_role("link", name="Evaluate").click()
            page.get_by_role("radiogroup", name="Contenders").get_by_text("2", exact=True).click()
            wait_until_idle(page)
            for number, model in ((1, supervised), (2, tuned)):
                page.get_by_role("combobox", name=f"Contender {number}").click()
                page.get_by_role("option", name=model, exact=True).click()
                wait_until_idle(page)
            page.get_by_role("textbox", name="Name of the run").fill("DPO against supervised")
            page.get_by_role("button", name="Create the run and generate answers").click()
            expect(page.get_by_text("all answers are in")).to_be_visible(timeout=120_000)
            browser.close()
    [latest] = [r for r in run_store.list_runs() if r.name == "DPO against supervised"]
    assert [c["model"] for c in latest.contenders] == [supervised, tuned]
    assert len(run_store.run_answers(latest.id)) == 2 * len(eval_file_prompts())


def test_two_reviewers_rate_from_a_queue_on_postgresql_and_the_scorecard_shows_their_agreement(
    data_dir: Path, postgres_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.db import connection

    monkeypatch.setenv(connection.URL_VARIABLE, postgres_cluster.database())  # the app below inherits it
    names = ("neon", "iron", "gold")
    items = [Prompt(f"q:{n}", [{"role": "user", "content": f"Tell me about {name}."}]) for n, name in enumerate(names)]
    contenders = [
        Contender("base", "smollm2-135m-instruct"),
        Contender("tuned", "ft:smollm2-135m-instruct:local::1", tuned=True),
    ]
    run = evaluation.create_run(
        "Team check", ProviderConfig("local"), "three questions", items, contenders,
        RunSettings(repeat_share=0.0, rubric=["Overall"]),
    )  # fmt: skip
    assert run.reviews_needed == 2
    for position in (1, 2, 3):
        run_store.save_answer(run.id, StoredAnswer(position, "base", "Plain prose.", 10, 5, 0.2, 0.0))
        run_store.save_answer(run.id, StoredAnswer(position, "tuned", "A verse,\nterse.", 10, 5, 0.2, 0.0))

    def sign_in(page: Page, url: str, reviewer: str) -> None:
        page.goto(f"{url}/rate")
        name = page.get_by_role("textbox", name="Your name")
        sync_api.expect(name).to_be_visible(timeout=20_000)
        name.fill(reviewer)
        name.press("Enter")
        sync_api.expect(page.get_by_text("each item needs 2 reviewers")).to_be_visible(timeout=20_000)

    def rate_one(page: Page) -> None:
        """Both reviewers prefer the verse, except on gold, where both prefer the prose: full agreement."""
        wait_until_idle(page)  # the item after the last save is drawn
        sync_api.expect(page.get_by_text("Prompt:")).to_be_visible(timeout=20_000)
        gold = page.get_by_text("Tell me about gold.").is_visible()
        left_is_verse = "verse" in page.get_by_test_id("stColumn").nth(0).inner_text()
        groups = page.get_by_role("radiogroup", name="Overall")
        groups.nth(0).get_by_text("3", exact=True).click()
        groups.nth(1).get_by_text("3", exact=True).click()
        pick = "A" if left_is_verse != gold else "B"
        page.get_by_role("radiogroup", name="Which answer is better?").get_by_text(pick, exact=True).click()
        page.get_by_role("button", name="Save rating").click()
        sync_api.expect(page.get_by_text("Saved. Item")).to_be_visible(timeout=20_000)

    with serving_app(data_dir) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ada = browser.new_context().new_page()
        bo = browser.new_context().new_page()  # a second person: own session, own cookies
        expect = sync_api.expect
        sign_in(ada, url, "Ada")
        expect(ada.get_by_text("Store: PostgreSQL")).to_be_visible()
        sign_in(bo, url, "Bo")
        for _ in names:  # turn about, each holding an item while the other rates
            rate_one(ada)
            rate_one(bo)
        expect(ada.get_by_text("All 3 items rated. Thank you, Ada!")).to_be_visible(timeout=20_000)
        expect(bo.get_by_text("All 3 items rated. Thank you, Bo!")).to_be_visible(timeout=20_000)
        cy = browser.new_context().new_page()
        cy.goto(f"{url}/rate")
        cy.get_by_role("textbox", name="Your name").fill("Cy")
        cy.get_by_role("textbox", name="Your name").press("Enter")
        expect(cy.get_by_text("Every item has its 2 reviewers. Thank you, Cy!")).to_be_visible(timeout=20_000)
        cy.get_by_role("link", name="Open the scorecard").click()
        expect(cy.get_by_test_id("stMetricLabel").get_by_text("Cohen's kappa")).to_be_visible(timeout=20_000)
        expect(cy.get_by_test_id("stMetricValue").get_by_text("1.00")).to_be_visible()
        cy.get_by_role("tab", name="Reviewers").click()
        expect(cy.get_by_text("3 of 3 items have their 2 reviewers.")).to_be_visible(timeout=20_000)
        browser.close()
    assert run_store.rated_counts(run.id) == {1: 2, 2: 2, 3: 2}
    assert {r.reviewer for r in run_store.run_ratings(run.id)} == {"Ada", "Bo"}
