"""User text shown as text: Streamlit renders Markdown in titles, captions, alerts and toasts, so a dataset name,
a reviewer's name or a prompt holding ``![x](http://…)`` would make every browser that shows it fetch that address.
Everything a person typed goes through ``plain`` before it reaches a Markdown-rendering call."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")


def plain(text: object) -> str:
    """``text`` with every Markdown character escaped: shown exactly as written (no image, link or emphasis)."""
    return _MARKDOWN.sub(r"\\\1", str(text))
