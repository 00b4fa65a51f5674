"""OpenAI's fine-tuning rules that the app and the local server share; this module imports nothing from the app."""

import re

MIN_EXAMPLES = 10  # a training file needs at least this many examples
SUFFIX_RULE = "letters, digits, - and _, up to 64 characters"
_SUFFIX = re.compile(r"[A-Za-z0-9_-]{0,64}")


def auto_epochs(n_examples: int) -> int:
    """OpenAI's default when n_epochs is "auto": 3, more for small sets, fewer for huge ones."""
    if n_examples <= 0:
        return 0
    if 3 * n_examples < 100:
        return min(25, 100 // n_examples)
    if 3 * n_examples > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


def auto_batch_size(n_examples: int) -> int:
    """The local provider's choice for "auto": 1 for small sets (each step learns from one example), up to 8."""
    return max(1, min(8, n_examples // 64))


def suffix_problem(suffix: str) -> str | None:
    """Why ``suffix`` cannot name a tuned model (OpenAI allows letters, digits, - and _, up to 64), or None."""
    if _SUFFIX.fullmatch(suffix):
        return None
    if len(suffix) > 64:
        return f"The suffix is {len(suffix)} characters long; at most 64 are allowed."
    odd = sorted({c for c in suffix if not _SUFFIX.fullmatch(c)})
    shown = ", ".join("a space" if c == " " else f"'{c}'" for c in odd)
    return f"The suffix may hold only {SUFFIX_RULE}; not {shown}."
