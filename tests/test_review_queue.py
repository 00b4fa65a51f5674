"""Review queues: each item gets the reviewers it needs, no more; an open item is held for its reviewer."""

import pytest
from streamlit.testing.v1 import AppTest

from lib.db import connection, run_store
from lib.judge import rating
from lib.judge.run import EvalRun
from lib.settings import PROJECT_DIR
from tests.threads import at_once

CONTENDERS = [{"label": "base", "model": "m"}, {"label": "tuned", "model": "t"}]


def make_run(n_items: int = 6, needed: int = 2, repeat_share: float = 0.0) -> EvalRun:
    items = [("", [{"role": "user", "content": f"Tell me about element {i}"}]) for i in range(n_items)]
    settings = {"repeat_share": repeat_share, "rubric": []}
    return run_store.create_run("queue", "local", "test", settings, CONTENDERS, items, reviews_needed=needed)


def rate_all(run: EvalRun, reviewer: str) -> list[int]:
    """Rate whatever the queue offers until it offers nothing; the positions rated."""
    rated = []
    while (assignment := rating.next_assignment(run, reviewer)[0]) is not None:
        rating.rate(run, reviewer, assignment, "A", {assignment.left: [], assignment.right: []})
        rated.append(assignment.position)
    return rated


def test_each_item_gets_the_reviewers_it_needs_and_no_more(store: str) -> None:
    run = make_run(needed=2)
    assert len(rate_all(run, "Ann")) == 6 and len(rate_all(run, "Bob")) == 6
    assert rating.next_assignment(run, "Cy") == (None, 0, 0)  # every item has its two reviewers
    assert run_store.rated_counts(run.id) == dict.fromkeys(range(1, 7), 2)
    status = rating.queue_status(run)
    assert status[0] == {"Item": 1, "Rated by": "Ann, Bob", "Being rated by": "", "Still needs": 0}


def test_an_open_item_is_held_for_its_reviewer_until_rated_or_expired(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(n_items=2, needed=1)
    assert run_store.reserve(run.id, "Ann", [1, 2]) == 1
    assert run_store.reserve(run.id, "Bob", [1, 2]) == 2  # item 1 is Ann's for now
    assert run_store.reserve(run.id, "Cy", [1, 2]) is None
    assert run_store.reserve(run.id, " ann ", [1, 2]) == 1  # asking again keeps her own item
    assert rating.queue_status(run)[0]["Being rated by"] == "ann"  # as she wrote it the last time
    rating.rate(run, "Ann", rating.Assignment(1, "base", "tuned"), "B", {"base": [], "tuned": []})
    assert run_store.active_reservations(run.id) == {2: ["Bob"]}  # rating it gave the reservation up
    monkeypatch.setattr(run_store, "RESERVATION_MINUTES", -1)  # Bob walks away: his hold runs out
    assert run_store.reserve(run.id, "Bob", [2]) == 2
    assert run_store.reserve(run.id, "Cy", [2]) == 2


def test_skipping_gives_the_item_back_to_the_queue(store: str) -> None:
    run = make_run(n_items=3, needed=1)
    first = rating.next_assignment(run, "Ann")[0]
    assert first is not None
    after_skip = rating.next_assignment(run, "Ann", skipped=[first.position])[0]
    assert after_skip is not None and after_skip.position != first.position
    assert first.position not in run_store.active_reservations(run.id)  # Bob may take it now


def test_repeats_are_second_looks_and_do_not_take_a_place(store: str) -> None:
    run = make_run(n_items=4, needed=1, repeat_share=0.5)
    rated = rate_all(run, "Ann")
    assert len(rated) == 6 and run_store.rated_counts(run.id) == dict.fromkeys(range(1, 5), 1)
    assert len(run_store.run_ratings(run.id, "ann", repeats=True)) == 2
    assert rating.next_assignment(run, "Bob")[0] is None


def test_eight_reviewers_at_once_give_every_item_exactly_its_reviewers(store: str) -> None:
    run = make_run(n_items=20, needed=2)
    done: dict[int, list[int]] = {}

    def reviewer(k: int) -> None:
        done[k] = rate_all(run, f"Reviewer {k}")

    assert at_once(reviewer, 8) == []
    assert run_store.rated_counts(run.id) == dict.fromkeys(range(1, 21), 2)
    assert sum(len(positions) for positions in done.values()) == 40 == len(run_store.run_ratings(run.id))
    assert all(len(set(positions)) == len(positions) for positions in done.values())


AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "s",
    "client_id": "c",
    "client_secret": "x",
    "server_metadata_url": "https://example.com/.well-known/openid-configuration",
}


def app_as(user: dict[str, object], page: str = "") -> AppTest:
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20)
    at.secrets["auth"] = AUTH
    at.secrets["access"] = {"curators": ["ann@example.com"], "reviewers": ["bob@example.com", "cy@example.com"]}
    at.user = user
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_with_sign_in_configured_nobody_gets_in_unsigned_or_unlisted() -> None:
    at = app_as({"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in"] and not at.exception
    at = app_as({"is_logged_in": True, "email": "eve@example.com", "name": "Eve"})
    assert "eve@example.com is not on this studio's list" in at.error[0].value


def test_a_reviewer_rates_only_the_runs_shared_with_them_and_sees_no_other_screen() -> None:
    shared, private = make_run(needed=2), make_run(needed=2)
    run_store.share_run(shared.id, 2, ["Bob@Example.com "])
    at = app_as({"is_logged_in": True, "email": "bob@example.com", "name": "Bob"})
    assert not at.exception and at.title[0].value == "Rate answers"  # the only screen a reviewer has
    assert at.selectbox(key="rate_run").options == [f"{shared.id} · queue"] and private.id != shared.id
    assert "Rating as **Bob** (signed in)." in [c.value for c in at.caption]
    assert f"Store: **{connection.describe().engine}**" in " ".join(c.value for c in at.sidebar.caption)
    with pytest.raises(Exception):  # noqa: B017 - the curators' screens are not registered for a reviewer
        at.switch_page("pages/examples.py").run()
    cy = app_as({"is_logged_in": True, "email": "cy@example.com", "name": "Cy"})
    assert "No run has been shared with you yet." in [i.value for i in cy.info]


def test_a_curator_sets_reviewers_per_item_and_shares_a_run_on_the_reviewers_tab() -> None:
    run = make_run(needed=2)
    at = app_as({"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}, "pages/scorecard.py")
    assert not at.exception
    at.number_input(key=f"queue_needed_{run.id}").set_value(3)
    at.multiselect(key=f"queue_shared_{run.id}").select("cy@example.com")
    next(b for b in at.button if b.label == "Save").click().run()
    saved = run_store.get_run(run.id)
    assert (saved.reviews_needed, saved.shared_with) == (3, ("cy@example.com",))
    assert "0 of 6 items have their 3 reviewers" in " ".join(m.value for m in at.markdown)


def test_a_store_that_cannot_be_opened_is_said_in_words_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_DATABASE_URL", "postgresql://studio:secret@127.0.0.1:9/studio")  # nothing listens
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20).run()
    assert not at.exception and "Cannot open the database PostgreSQL (127.0.0.1:9/studio)" in at.error[0].value
    assert "secret" not in at.error[0].value  # the password is never shown
    monkeypatch.setenv("STUDIO_DATABASE_URL", "mysql://studio@db/studio")
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=20).run()
    assert "names mysql: the app stores in SQLite or PostgreSQL" in at.error[0].value
