"""The dataset doctor: problems that pass every format check and still ruin a small fine-tuning set.

- ``near_duplicate``: near-identical examples (MinHash LSH over word shingles, datasketch; each candidate
  pair verified by its exact Jaccard similarity), which overweight one example;
- ``contradiction``: the same question (the same content words) answered with different facts
  (numbers, names, yes/no);
- ``eval_overlap``: a training question that is also an evaluation prompt or a validation row's question,
  which inflates every verdict;
- ``pii``: personal data (lib.curate.pii) that must not be uploaded to a provider;
- ``outlier``: an answer far longer or shorter than the rest, in another format, or a system prompt
  unlike the dataset's usual one.

Lines are 1-based: a file's line numbers, or a dataset's row numbers.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from datasketch import MinHash, MinHashLSH

from lib.curate import pii
from lib.openai_format.checks import Severity
from lib.openai_format.examples import conversation

NEAR_DUPLICATE = 0.8  # Jaccard similarity of word shingles at which two examples count as near-identical
EVAL_NEAR = 0.85  # ... at which a training question counts as an evaluation prompt (long questions only)
NUM_PERM = 64
MIN_FOR_OUTLIERS = 10
FAR = 4  # an answer 4 times longer or shorter than the usual one, and far out for this dataset's spread
_STOP_WORDS = (
    "a an the and or but if of to in on at by for with about from into as is are was were be been being am do does "
    "did have has had i me my you your we our he she it its they them their this that these those what which who "
    "whom whose how why when where please tell can could would should will shall may might must s t d ll re ve m "
    "there here than then so not no yes just some any all"
)
_STOP = frozenset(_STOP_WORDS.split())
_YES = frozenset({"yes", "yeah", "yep", "correct", "true"})
_NO = frozenset({"no", "nope", "false", "incorrect"})
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NUMBER_NAMES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand"
)
_NUMBER_WORDS = frozenset(_NUMBER_NAMES.split())
_CAPITALIZED = re.compile(r"\b[A-Z][a-z]+\b")


@dataclass(frozen=True)
class Diagnosis:
    code: str
    severity: Severity
    lines: tuple[int, ...]
    message: str
    keep: int | None = None  # near_duplicate: the line to keep when the others are removed

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["lines"] = list(self.lines)
        found.pop("keep")
        return found


@dataclass
class ExampleText:
    """One example's system, user and assistant text (turns joined), as the rules read it."""

    line: int
    system: str
    user: str
    assistant: str
    shingles: set[str] = field(default_factory=set)


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def example_texts(examples: Iterable[tuple[int, Any]]) -> list[ExampleText]:
    """(line, example) pairs as the rules read them; an example the format checks reject reads as empty."""
    texts = []
    for line, example in examples:
        parts: dict[str, list[str]] = defaultdict(list)
        for message in conversation(example):
            if isinstance(message, dict):
                parts[str(message.get("role"))].append(_content(message))
        texts.append(
            ExampleText(line, "\n".join(parts["system"]), "\n".join(parts["user"]), "\n".join(parts["assistant"]))
        )
    return texts


def words(text: str) -> list[str]:
    """Lower-case words and numbers, accents and punctuation gone."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z0-9]+", plain)


def content_words(text: str) -> frozenset[str]:
    """What a question is about: its words less the small ones, so 'What is iron's atomic number?' and
    'what's the atomic number of iron' are the same question."""
    return frozenset(w for w in words(text) if w not in _STOP)


def _shingles(text: str) -> set[str]:
    found = words(text)
    return set(found) | {f"{a} {b}" for a, b in itertools.pairwise(found)}


def _signatures(shingle_sets: Sequence[set[str]]) -> list[MinHash]:
    """MinHash signatures, made in bulk (one set of permutations); crc32 is enough: every match is verified."""
    return MinHash.bulk(([s.encode() for s in shingles] for shingles in shingle_sets), num_perm=NUM_PERM, seed=1,
                        hashfunc=zlib.crc32)  # fmt: skip


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def facts(text: str) -> tuple[frozenset[str], frozenset[str], str]:
    """The numbers, names and yes/no of an answer: what two answers to one question must agree on."""
    numbers = frozenset(n.replace(",", "") for n in _NUMBER.findall(text)) | _NUMBER_WORDS.intersection(words(text))
    names = frozenset(
        m.group().lower()
        for m in _CAPITALIZED.finditer(text)
        if text[: m.start()].rstrip(" \t")[-1:] not in ("", ".", "!", "?", "\n", ":")
    )  # a capitalized word that does not start a sentence or a line
    first = words(text)[:3]
    polarity = "yes" if any(w in _YES for w in first) else "no" if any(w in _NO for w in first) else ""
    return numbers, names, polarity


def _differ(first: str, second: str) -> list[str]:
    (n1, m1, p1), (n2, m2, p2) = facts(first), facts(second)
    found = []
    if n1 and n2 and n1 != n2:
        found.append("numbers")
    if m1 and m2 and m1 != m2 and not (m1 <= m2 or m2 <= m1):
        found.append("names")
    if p1 and p2 and p1 != p2:
        found.append("yes/no")
    return found


def _groups(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected groups of linked indexes (union-find)."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in list(parent):
        members[root(i)].append(i)
    return sorted((sorted(m) for m in members.values()), key=lambda m: m[0])


def near_duplicates(texts: Sequence[ExampleText]) -> list[Diagnosis]:
    lsh = MinHashLSH(threshold=NEAR_DUPLICATE - 0.1, num_perm=NUM_PERM)
    pairs = []
    for text in texts:
        text.shingles = _shingles(f"{text.user}\n{text.assistant}")
    for i, (text, signature) in enumerate(zip(texts, _signatures([t.shingles for t in texts]), strict=True)):
        if not text.shingles:
            continue
        for j in lsh.query(signature):
            other = texts[int(j)]
            if jaccard(text.shingles, other.shingles) >= NEAR_DUPLICATE and not _differ(
                text.assistant, other.assistant
            ):
                pairs.append((int(j), i))
        lsh.insert(str(i), signature)
    found = []
    for group in _groups(pairs):
        lines = tuple(texts[i].line for i in group)
        found.append(
            Diagnosis("near_duplicate", "warning", lines, f"{len(lines)} near-identical examples: together they "
                      f"weigh {len(lines)} times as much as any other. Keep one.", lines[0])
        )  # fmt: skip
    return found


def contradictions(texts: Sequence[ExampleText]) -> list[Diagnosis]:
    by_question: dict[frozenset[str], list[ExampleText]] = defaultdict(list)
    for text in texts:
        if question := content_words(text.user):
            by_question[question].append(text)
    found = []
    for same in by_question.values():
        pairs = [(a, b) for i, a in enumerate(same) for b in same[i + 1 :] if _differ(a.assistant, b.assistant)]
        for group in _groups((a.line, b.line) for a, b in pairs):
            what = sorted({w for a, b in pairs if a.line in group for w in _differ(a.assistant, b.assistant)})
            found.append(
                Diagnosis("contradiction", "warning", tuple(group), f"The same question is answered with different "
                          f"{' and '.join(what)}: keep the right answer.")
            )  # fmt: skip
    return found


def eval_overlaps(texts: Sequence[ExampleText], eval_prompts: Sequence[tuple[str, str]]) -> list[Diagnosis]:
    """Training questions that are also evaluation prompts: the same content words, or (for long questions)
    near-identical wording. ``eval_prompts`` are (where, question) pairs."""
    exact: dict[frozenset[str], str] = {}
    long_ones: dict[str, tuple[set[str], str]] = {}  # key in the LSH index -> (shingles, where)
    for n, (where, question) in enumerate(eval_prompts):
        key = content_words(question)
        if key:
            exact.setdefault(key, where)
        if len(key) >= 8:
            long_ones[str(n)] = (_shingles(question), where)
    matches = {text.line: exact[key] for text in texts if (key := content_words(text.user)) in exact}
    unmatched = [text for text in texts if text.line not in matches and len(content_words(text.user)) >= 8]
    if long_ones and unmatched:
        lsh = MinHashLSH(threshold=EVAL_NEAR - 0.1, num_perm=NUM_PERM)
        for name, signature in zip(long_ones, _signatures([s for s, _ in long_ones.values()]), strict=True):
            lsh.insert(name, signature)
        asked = [_shingles(text.user) for text in unmatched]
        for text, shingles, signature in zip(unmatched, asked, _signatures(asked), strict=True):
            near = [long_ones[k][1] for k in lsh.query(signature) if jaccard(shingles, long_ones[k][0]) >= EVAL_NEAR]
            if near:
                matches[text.line] = near[0]
    return [
        Diagnosis("eval_overlap", "error", (line,), f"Asks what evaluation prompt {where} asks: training on it "
                  "inflates every verdict. Move it to validation or remove it.")
        for line, where in sorted(matches.items())
    ]  # fmt: skip


def personal_data(texts: Sequence[ExampleText]) -> list[Diagnosis]:
    found = []
    for text in texts:
        kinds = Counter(m.kind for part in (text.system, text.user, text.assistant) for m in pii.find(part))
        if kinds:
            said = ", ".join(f"{n} {pii.LABELS[k]}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items()))
            found.append(
                Diagnosis("pii", "error", (text.line,), f"Holds personal data ({said}): redact it before it is "
                          "uploaded to a provider.")
            )  # fmt: skip
    return found


def answer_format(text: str) -> str:
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            json.loads(stripped)
            return "JSON"
        except ValueError:
            pass
    if "```" in stripped:
        return "code"
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    if sum(bool(re.match(r"([-*•]|\d+[.)])\s", line)) for line in lines) >= 2:
        return "a list"
    return "verse" if len(lines) >= 3 else "prose"


def outliers(texts: Sequence[ExampleText]) -> list[Diagnosis]:
    if len(texts) < MIN_FOR_OUTLIERS:
        return []
    found: dict[int, list[str]] = defaultdict(list)
    lengths = [math.log1p(len(t.assistant)) for t in texts]
    middle = statistics.median(lengths)
    spread = 1.4826 * statistics.median(abs(v - middle) for v in lengths) or 0.1
    usual_length = int(math.expm1(middle))
    for text, value in zip(texts, lengths, strict=True):
        if abs(value - middle) > max(3.5 * spread, math.log(FAR)):
            side = "longer" if value > middle else "shorter"
            found[text.line].append(f"its answer is far {side} than the rest ({len(text.assistant):,} characters; "
                                    f"usually about {usual_length:,})")  # fmt: skip
    for what, values in (
        ("answer is", [answer_format(t.assistant) for t in texts]),
        ("system prompt", [t.system for t in texts]),
    ):
        usual, count = Counter(values).most_common(1)[0]
        if count / len(texts) >= 0.8:
            for text, kind in zip(texts, values, strict=True):
                if kind != usual:
                    found[text.line].append(
                        f"its answer is {kind} where the others are {usual}" if what == "answer is"
                        else "its system prompt differs from the one most examples share"
                    )  # fmt: skip
    return [Diagnosis("outlier", "warning", (line,), f"Stands out: {'; '.join(why)}.")
            for line, why in sorted(found.items())]  # fmt: skip


def eval_overlap_of(examples: Iterable[tuple[int, Any]], eval_prompts: Sequence[tuple[str, str]]) -> list[Diagnosis]:
    """Only the evaluation overlap of (line, example) pairs: for Evaluate's warning about a tuned model."""
    return eval_overlaps(example_texts(examples), eval_prompts)


def redacted(example: Any) -> Any:
    """A copy of ``example`` with the personal data of every message replaced by placeholders."""
    copy = json.loads(json.dumps(example))
    if not isinstance(copy, dict):
        return copy
    messages = [*copy.get("messages", []), *copy.get("input", {}).get("messages", []),
                *copy.get("preferred_output", []), *copy.get("non_preferred_output", [])]  # fmt: skip
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = pii.redact(message["content"])
        elif isinstance(message, dict) and isinstance(message.get("content"), list):
            for part in message["content"]:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    part["text"] = pii.redact(part["text"])
    return copy


def diagnose(
    examples: Iterable[tuple[int, Any]], eval_prompts: Sequence[tuple[str, str]] = (), held_out: Collection[int] = ()
) -> list[Diagnosis]:
    """Every finding of the doctor on (line, example) pairs, errors first, then by line. ``held_out``: lines kept
    for validation, whose questions the training lines must not ask either."""
    texts = example_texts(examples)
    validation = [(f"validation row {t.line}", t.user) for t in texts if t.line in held_out]
    training = [t for t in texts if t.line not in held_out]
    found = [
        *personal_data(texts),
        *eval_overlaps(training, [*eval_prompts, *validation]),
        *contradictions(texts),
        *near_duplicates(texts),
        *outliers(texts),
    ]
    return sorted(found, key=lambda d: (d.severity != "error", d.lines[0], d.code))
