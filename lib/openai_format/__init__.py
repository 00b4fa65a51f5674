"""OpenAI's fine-tuning format, as pure rules: example shapes, format checks, JSONL reading, auto epochs.

The only part of the app that the local server (lib/local) may import: it imports nothing else of the app
(tests/test_boundaries.py fails if either side breaks this)."""
