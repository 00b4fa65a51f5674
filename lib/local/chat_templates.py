"""Chat templates for base models that ship none (many pretrained models and GGUF conversions).

Such a model is trained and served with its family's own template where the architecture and vocabulary name
one (Gemma, Llama 3), else ChatML — ending each turn with ``<|im_end|>`` where that is one token of the
vocabulary (Qwen, SmolLM), else with the model's end-of-text token, so an answer always ends on one token.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

OWN = "its own"

GEMMA = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def chatml(end_of_turn: str) -> str:
    return (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '"
        + end_of_turn
        + "\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )


END_OF_TURN_MARKERS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>", "<|endoftext|>")


def family_template(model_type: str, vocabulary: Container[str], eos_token: str | None) -> tuple[str, str]:
    """(name, template) for a model without a chat template of its own."""
    if model_type.startswith("gemma") and "<start_of_turn>" in vocabulary and "<end_of_turn>" in vocabulary:
        return "Gemma's", GEMMA
    if "<|start_header_id|>" in vocabulary and "<|eot_id|>" in vocabulary:
        return "Llama 3's", LLAMA3
    if "<|im_end|>" in vocabulary or not eos_token:
        return "ChatML", chatml("<|im_end|>")
    return f"ChatML (turns end with {eos_token})", chatml(eos_token)


def ensure_chat_template(tokenizer: Any, model_type: str) -> str:
    """Give ``tokenizer`` a chat template if it has none; which template it now uses, in words."""
    if tokenizer.chat_template:
        return OWN
    name, template = family_template(model_type, tokenizer.get_vocab(), tokenizer.eos_token)
    tokenizer.chat_template = template
    return name


def end_of_turn_ids(tokenizer: Any) -> set[int]:
    """Token ids that end a turn in the tokenizer's chat template (its stop tokens beside end-of-text)."""
    template = str(tokenizer.chat_template or "")
    vocabulary = tokenizer.get_vocab()
    ids = {vocabulary[marker] for marker in END_OF_TURN_MARKERS if marker in template and marker in vocabulary}
    if tokenizer.eos_token and tokenizer.eos_token in template and tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
