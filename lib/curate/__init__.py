"""Curate: the example model, file formats (JSONL, CSV), format checks, table edits, conversations, import/export."""
