"""One router per resource of OpenAI's API (files, fine_tuning, models, chat), each with typed request models."""
