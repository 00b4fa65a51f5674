"""Retrieval, the other alternative to fine-tuning: knowledge files split into passages, BM25 search, prompts."""
