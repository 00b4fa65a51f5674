"""The dataset doctor: planted problems are found, decoys are not, and the sample is clean."""

from __future__ import annotations

from typing import Any

from lib.curate import doctor, pii
from lib.judge.prompts import eval_file_prompts
from lib.judge.run import question_of
from lib.openai_format.jsonl import read_jsonl
from lib.settings import SAMPLE_DIR

SYSTEM = "You answer questions about countries in one sentence."
COUNTRIES = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Greece", "Athens"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"), ("Ireland", "Dublin"), ("Hungary", "Budapest"), ("Denmark", "Copenhagen"),
]  # fmt: skip


def example(user: str, assistant: str, system: str = SYSTEM) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": assistant}]}  # fmt: skip


def planted() -> list[tuple[int, dict[str, Any]]]:
    rows = [example(f"What is the capital of {c}?", f"The capital of {c} is {city}.") for c, city in COUNTRIES]
    rows += [
        example("What is the capital of France?", "The capital of France is Paris."),  # 15: near-duplicate of 1
        example("what is the capital of france", "the capital of France is Paris"),  # 16: and again
        example("How many moons does Mars have?", "Mars has 2 moons, Phobos and Deimos."),  # 17
        example("how many moons does Mars have", "Mars has 3 moons."),  # 18: contradicts 17
        example("What's the boiling point of water at sea level?", "It boils at 100 degrees Celsius."),  # 19: eval
        example("Who do I write to?", "Write to ada.lovelace@example.org or call +44 20 7946 0958."),  # 20: pii
        example("Pay how?", "Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789."),  # 21
        example("Where is the server?", "It answers at 203.0.113.7."),  # 22: pii (an IP address)
        example("Decoys?", "Version 1.2.3.4, SKU 4111-1111-1111-1112, order 1234567890123, year 2024."),  # 23
        example("What is the capital of Malta?", "The capital of Malta is Valletta. " * 40),  # 24: long
        example("What is the capital of Latvia?", '{"country": "Latvia", "capital": "Riga"}'),  # 25: JSON
        example("What is the capital of Estonia?", "The capital of Estonia is Tallinn.", "Be terse."),  # 26
    ]
    return list(enumerate(rows, start=1))


EVAL = [("eval.jsonl:1", "what is the boiling point of water at sea level"), ("eval.jsonl:2", "Capital of Peru?")]


def by_code(found: list[doctor.Diagnosis]) -> dict[str, list[tuple[int, ...]]]:
    codes: dict[str, list[tuple[int, ...]]] = {}
    for diagnosis in found:
        codes.setdefault(diagnosis.code, []).append(diagnosis.lines)
    return codes


def test_each_planted_problem_is_found_with_its_rows_and_no_decoy_is() -> None:
    found = doctor.diagnose(planted(), EVAL)
    codes = by_code(found)
    assert codes["near_duplicate"] == [(1, 15, 16)]
    assert codes["contradiction"] == [(17, 18)]
    assert codes["eval_overlap"] == [(19,)]
    assert codes["pii"] == [(20,), (21,), (22,)]
    assert codes["outlier"] == [(24,), (25,), (26,)]
    said = {d.lines: d.message for d in found}
    assert "numbers" in said[(17, 18)] and "eval.jsonl:1" in said[(19,)]
    assert "e-mail address" in said[(20,)] and "phone number" in said[(20,)]
    assert all(kind in said[(21,)] for kind in ("payment card number", "IBAN", "national id number"))
    assert "far longer" in said[(24,)] and "JSON where the others are prose" in said[(25,)]
    assert "system prompt differs" in said[(26,)]
    assert [d.severity for d in found][:4] == ["error"] * 4  # personal data and evaluation overlap first
    assert next(d for d in found if d.code == "near_duplicate").keep == 1


def test_decoys_are_not_personal_data() -> None:
    decoys = ("Version 1.2.3.4 and v2.10.0.1 ship today", "SKU 4111-1111-1111-1112 fails Luhn",
              "order 1234567890123", "call at 12:30:45", "ISBN 978-3-16-148410-0", "GB82 WEST 1234 5698 7654 33",
              "localhost is 127.0.0.1", "room 123-45-678")  # fmt: skip
    for text in decoys:
        assert pii.find(text) == [], text
    assert pii.redact("Mail ada@example.org, card 4111 1111 1111 1111.") == "Mail [email], card [card number]."


def test_the_sample_is_healthy_and_does_not_overlap_its_evaluation_questions() -> None:
    examples = read_jsonl((SAMPLE_DIR / "limericks.jsonl").read_bytes()).valid_examples()
    prompts = [(p.source, question_of(p.messages)) for p in eval_file_prompts()]
    assert doctor.diagnose(examples, prompts) == []
    overlapping = [(41, example(prompts[0][1], "A limerick."))]
    assert by_code(doctor.diagnose(overlapping, prompts)) == {"eval_overlap": [(41,)]}


def test_the_doctor_panel_redacts_keeps_one_and_moves_to_validation_as_undoable_edits() -> None:
    from lib.curate.dataset import NewRow
    from lib.curate.import_export import VALIDATION_TAG, split_rows
    from lib.db import dataset_store
    from tests.test_pages import button, open_page

    dataset = dataset_store.create_dataset("Planted")
    eval_question = question_of(eval_file_prompts()[0].messages)
    rows = [example for _, example in planted()] + [example(eval_question, "The capital of Nowhere is Here.")]
    dataset_store.add_rows(dataset.id, [NewRow(e) for e in rows])
    at = open_page("pages/examples.py")
    assert not [s for s in at.selectbox if s.key == "doctor_finding"]  # the doctor waits until its tab is opened
    at.session_state["examples_panel"] = "Doctor"
    at.run()
    finding = at.selectbox(key="doctor_finding")
    assert "Row 20 · error · personal data" in finding.options[0]
    button(at, "Redact row 20").click().run()
    assert not at.exception
    text = dataset_store.rows(dataset.id)[19].example["messages"][-1]["content"]
    assert text == "Write to [email] or call [phone]."
    assert "Undo: Redacted personal data in row 20" in button(at, "Undo").label

    eval_row = len(rows)
    finding = at.selectbox(key="doctor_finding")
    finding.select(next(i for i, o in enumerate(finding.options) if o.startswith(f"Row {eval_row} "))).run()
    button(at, f"Move row {eval_row} to validation").click().run()
    latest = dataset_store.rows(dataset.id)
    assert VALIDATION_TAG in latest[eval_row - 1].tags
    training, validation = split_rows(latest, 0.0, 0)
    assert [r.id for r in validation] == [latest[eval_row - 1].id] and len(training) == eval_row - 1
    finding = at.selectbox(key="doctor_finding")
    assert not any(o.startswith(f"Row {eval_row} ") for o in finding.options)  # held out now: no longer trained on

    finding = at.selectbox(key="doctor_finding")
    finding.select(next(i for i, o in enumerate(finding.options) if "near-duplicates" in o)).run()
    button(at, "Keep row 1, remove rows 15, 16").click().run()
    assert len(dataset_store.rows(dataset.id)) == eval_row - 2
    button(at, "Undo").click().run()
    assert len(dataset_store.rows(dataset.id)) == eval_row  # undo brings both back

    finding = at.selectbox(key="doctor_finding")
    finding.select(next(i for i, o in enumerate(finding.options) if "contradiction" in o)).run()
    button(at, "Show rows 17, 18").click().run()
    assert at.session_state["examples_focus"] == [17, 18] and "Showing rows 17, 18 only." in at.info[0].value


def test_evaluate_warns_when_a_tuned_model_was_trained_on_its_prompts() -> None:
    from lib.curate.import_export import load_sample
    from lib.db import dataset_store, provenance_store
    from lib.judge.prompts import training_overlap
    from lib.judge.run import Contender
    from lib.train.provenance import Provenance
    from tests.tiny_model import TINY

    dataset = load_sample()
    rows = dataset_store.rows(dataset.id)
    prompts = eval_file_prompts()
    leaked = example(question_of(prompts[2].messages).upper(), "A limerick.")  # the same question, shouted
    dataset_store.update_rows(dataset.id, {rows[4].id: {"example": leaked}})
    version = dataset_store.get_dataset(dataset.id).version_id
    tuned = f"ft:{TINY}:elle"
    provenance_store.record_job(Provenance("local", "ftjob-1", dataset.id, dataset.name, version, 40, "file-1", None,
                                           TINY, tuned, training_rows=tuple(r.id for r in rows)))  # fmt: skip
    contenders = [Contender("tuned", tuned), Contender("base", TINY)]
    [said] = training_overlap("local", contenders, prompts)
    assert said.startswith(f"tuned was trained on 1 of these prompts (Elle limericks v{version})")
    assert training_overlap("local", contenders, prompts[3:]) == []
    assert training_overlap("openai", contenders, prompts) == []  # another provider's model of the same name


def test_a_long_evaluation_prompt_reworded_a_little_is_still_found() -> None:
    asked = "Which noble gas glows orange red inside old advertising signs on busy city streets at night?"
    reworded = "Which noble gas glows orange red inside old advertising signs on busy city streets late at night?"
    other = "Which noble gas glows blue violet inside old advertising signs on quiet country roads at dawn?"
    prompts = [("eval.jsonl:7", asked)]
    found = doctor.diagnose([(1, example(reworded, "Neon.")), (2, example(other, "Argon."))], prompts)
    assert [(d.code, d.lines) for d in found] == [("eval_overlap", (1,))] and "eval.jsonl:7" in found[0].message


def test_a_training_row_that_asks_a_validation_rows_question_is_found_not_the_validation_row() -> None:
    rows = [(n, example(f"What is the capital of {c}?", f"The capital of {c} is {city}."))
            for n, (c, city) in enumerate(COUNTRIES[:3], start=1)]  # fmt: skip
    rows.append((4, example("what's the capital of germany", "Berlin.")))
    found = doctor.diagnose(rows, held_out={2})
    assert [(d.code, d.lines) for d in found if d.code == "eval_overlap"] == [("eval_overlap", (4,))]
    assert "validation row 2" in found[0].message
