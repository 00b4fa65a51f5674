"""OpenAI's fine-tuning rules that the app and the local server share; this module imports nothing from the app."""

MIN_EXAMPLES = 10  # a training file needs at least this many examples


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
