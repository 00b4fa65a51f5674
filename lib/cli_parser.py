"""The command line's arguments (lib/cli.py runs the commands): every command, its options and their help."""

from __future__ import annotations

import argparse
from pathlib import Path

from lib.judge.answer_checks import ELLE, PACKS
from lib.rhymes import SCHEMES
from lib.settings import SAMPLE_DIR

PROVIDERS = ("local", "openai", "azure", "compatible")  # compatible: STUDIO_COMPATIBLE_URL (and _API_KEY)


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="Tuning Studio command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a JSONL or CSV fine-tuning file")
    validate.add_argument("file", type=Path, help="the .jsonl or .csv file to check")
    validate.add_argument("--model", help="count tokens and price training for this model (e.g. gpt-4o-mini)")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    card = commands.add_parser("scorecard", help="the scorecard and verdict of a ratings CSV")
    card.add_argument("file", type=Path, help="the Scorecard's 'Ratings (CSV)' export")
    card.add_argument("--tuned", required=True, help="the tuned model's contender name")
    card.add_argument("--baseline", required=True, help="the contender it is judged against")
    card.add_argument("--margin", type=float, default=0.05, help="equivalence margin (default 0.05)")
    card.add_argument("--cost-tuned", type=float, help="tuned model's cost per 1,000 requests (USD)")
    card.add_argument("--cost-baseline", type=float, help="baseline's cost per 1,000 requests (USD)")
    card.add_argument("--judge", metavar="REVIEWER", help="this reviewer's rows are a model's votes (measured only)")
    card.add_argument("--count-judge", action="store_true", help="count the judge's votes in the verdict too")
    card.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    judge = commands.add_parser("judge", help="a model judges an evaluation run's pairs, in both orders")
    judge.add_argument("--run", type=int, required=True, help="the run's number (Evaluate → Runs)")
    judge.add_argument("--model", required=True, help="the judging model")
    judge.add_argument("--provider", default="local", choices=PROVIDERS)
    judge.add_argument("--name", default="", help="the judge's name among the reviewers (default 'judge: MODEL')")
    judge.add_argument("--calibrate", type=int, default=0, metavar="K",
                       help="show K of people's rated pairs to the judge as examples (not measured on)")  # fmt: skip
    judge.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    check = commands.add_parser("check", help="the automatic checks of one answer")
    check.add_argument("--question", required=True)
    check.add_argument("--answer", required=True)
    check.add_argument("--pack", default=ELLE.name, choices=sorted(PACKS), help="the answer-check pack")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    doctor = commands.add_parser("doctor", help="find bad examples: duplicates, contradictions, overlap, personal data")
    doctor.add_argument("file", type=Path, help="the .jsonl or .csv file to examine")
    doctor.add_argument("--eval", type=Path, help="an evaluation file whose prompts must not be in the training data")
    doctor.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    imports = commands.add_parser("import", help="add a JSONL or CSV file's examples to a dataset of the store")
    imports.add_argument("file", type=Path, help="the .jsonl or .csv file to import")
    imports.add_argument("--dataset", required=True, help="the dataset's name (made if there is none)")
    imports.add_argument("--include-errors", action="store_true", help="import the lines with errors too")
    exports = commands.add_parser("export", help="write a dataset of the store to standard output")
    exports.add_argument("name", help="the dataset's name")
    exports.add_argument("--format", default="jsonl", choices=("jsonl", "csv"), help="jsonl (OpenAI) or csv")
    exports.add_argument("--approved", action="store_true", help="only the approved examples")
    train = commands.add_parser("train", help="fine-tune on a file as Train does, and follow the job to its end")
    train.add_argument("file", type=Path, help="the .jsonl or .csv training file (imported as a dataset)")
    train.add_argument("--model", required=True, help="the base model to fine-tune")
    train.add_argument("--knowledge", type=Path, help="train with passages retrieved from this file in each prompt")
    train.add_argument("--passages", type=int, default=3, help="passages per example (default 3)")
    train.add_argument(
        "--template",
        help="how the knowledge CSV's rows become passages (default: the source's; "
        "for data/elements.csv the sample's sentence)",
    )
    train.add_argument("--distractors", type=float, default=0.5, help="share of examples given distractor passages")
    train.add_argument("--epochs", type=int, help="training epochs (default: auto)")
    train.add_argument("--validation", type=float, default=0.0, help="share held out for the validation loss")
    train.add_argument("--seed", type=int, help="the same seed gives the same split, distractors and run")
    train.add_argument("--provider", default="local", choices=PROVIDERS[:3], help="where to train (default local)")
    train.add_argument("--suffix", default="", help="part of the tuned model's name")
    train.add_argument("--json", action="store_true", help="print {job_id, status, fine_tuned_model} as JSON")
    ask = commands.add_parser("ask", help="ask a model once, as Compare does")
    ask.add_argument("--model", required=True, help="a base or tuned model (ft:...) of the provider")
    ask.add_argument("--user", required=True, help="the question")
    ask.add_argument("--system", default="", help="the system prompt")
    ask.add_argument("--shots", type=int, default=0, help="question/answer pairs from --examples put in the prompt")
    ask.add_argument("--examples", type=Path, default=SAMPLE_DIR / "limericks.jsonl", help="where shots come from")
    ask.add_argument("--knowledge", type=Path, help="a CSV, Markdown, text or JSONL file to retrieve passages from")
    ask.add_argument(
        "--passages",
        type=int,
        help="how many passages to retrieve (default: as many as the model was trained with, else 3)",
    )
    ask.add_argument(
        "--template",
        help="how the knowledge CSV's rows become passages, e.g. \"{name} has atomic "
        'number {number}." (default: the template the model was trained with)',
    )
    ask.add_argument("--provider", default="local", choices=PROVIDERS,
                     help="local (at STUDIO_LOCAL_URL), openai, azure or compatible (--base-url)")  # fmt: skip
    ask.add_argument("--base-url", help="with --provider compatible: the server's address, ending in /v1")
    ask.add_argument("--api-key-env", metavar="VAR", help="with --provider compatible: the variable holding its key")
    ask.add_argument("--temperature", type=float, default=0.0)
    ask.add_argument("--max-tokens", type=int, default=120)
    ask.add_argument("--rhymes", choices=SCHEMES, help="the local provider makes lines end on rhymes: AABBA (limerick)")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    run = commands.add_parser("evaluate", help="make an evaluation run and answer it, as Evaluate does")
    run.add_argument("--prompts", required=True, help="eval-file:PATH, dataset:NAME or heldout:JOB_ID")
    run.add_argument("--contender", action="append", required=True, metavar="NAME=MODEL[,shots=K][,passages=K]",
                     help="a contender (give two or more); add ,rhymes=AABBA on the local provider to make its "
                     "lines rhyme as a limerick's")  # fmt: skip
    run.add_argument("--candidate", required=True, help="the contender being judged (usually the tuned model)")
    run.add_argument("--baseline", required=True, help="the contender it is judged against")
    run.add_argument("--knowledge", type=Path, help="a file to retrieve passages from (for passages=K)")
    run.add_argument("--shots-from", help="dataset:NAME: where few-shot examples come from")
    run.add_argument("--provider", default="local", choices=PROVIDERS)
    run.add_argument("--name", default="", help="the run's name")
    run.add_argument("--temperature", type=float, default=0.0)
    run.add_argument("--max-tokens", type=int, default=120)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--checks", default=ELLE.name, help=f"answer-check pack ({', '.join(sorted(PACKS))}) or none")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    draft = commands.add_parser("draft", help="a model drafts new examples in a file's style (JSONL on stdout)")
    draft.add_argument("--examples", type=Path, required=True, help="a .jsonl or .csv file of examples to imitate")
    draft.add_argument("--knowledge", type=Path, help="a knowledge file: one passage per draft, uncovered ones first")
    draft.add_argument("--n", type=int, required=True, help="how many examples to draft")
    draft.add_argument("--model", required=True, help="the model that drafts them")
    draft.add_argument("--seeds", type=int, default=3, metavar="K", help="examples shown per draft (default 3)")
    draft.add_argument("--provider", default="local", choices=PROVIDERS,
                       help="local (at STUDIO_LOCAL_URL), openai, azure or compatible (--base-url)")  # fmt: skip
    draft.add_argument("--base-url", help="with --provider compatible: the server's address, ending in /v1")
    draft.add_argument("--api-key-env", metavar="VAR", help="with --provider compatible: the variable holding its key")
    draft.add_argument("--max-tokens", type=int, default=400, help="the longest answer (default 400)")
    prefer = commands.add_parser("check-preferences", help="preference data from n answers per prompt, by the checks")
    prefer.add_argument("--prompts", required=True, help="run:ID (a stored run) or dataset:NAME (each row's prompt)")
    prefer.add_argument("--model", required=True, help="the model that answers (with the passages it was trained with)")
    prefer.add_argument("--checks", choices=sorted(PACKS), help="default: the run's pack, else elle")
    prefer.add_argument("--n", type=int, default=4, help="answers per prompt (default 4)")
    prefer.add_argument("--temperature", type=float, default=0.9)
    prefer.add_argument("--max-pairs", type=int, default=2, help="pairs per prompt, the widest gaps first (default 2)")
    prefer.add_argument("--max-tokens", type=int, default=120)
    prefer.add_argument("--provider", default="local", choices=PROVIDERS[:3], help="local, openai or azure")
    prefer.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    model = commands.add_parser("export-model", help="a local model as GGUF, a Hugging Face folder or an Ollama bundle")
    model.add_argument("model", help="a model of the local server (a tuned model, a checkpoint or a base)")
    model.add_argument("--format", required=True, choices=("gguf", "hf", "ollama"))
    model.add_argument("--quant", default="q8_0", choices=("q8_0", "f16"), help="GGUF weights (default q8_0)")
    model.add_argument("--out", type=Path, required=True, help="the file to write (.gguf, or .zip for hf and ollama)")
    exported = commands.add_parser("export-run", help="print an evaluation run as one JSON object")
    exported.add_argument("run_id", type=int, help="the run's number (Evaluate → Runs)")
    return parser
