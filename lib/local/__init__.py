"""The local provider: an OpenAI-compatible server that fine-tunes and serves a small open model offline."""
