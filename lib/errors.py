"""Errors meant for users: their message is shown as is."""


class StudioError(Exception):
    """Base class for errors whose message a user can act on."""


class DatasetError(StudioError):
    """A dataset or file cannot be used (bad columns, unknown dataset, duplicate name...)."""


class PriceError(StudioError):
    """A price or model cannot be used (unknown model, negative price...)."""


class RunError(StudioError):
    """An evaluation run, answer or rating cannot be used (no prompts, unknown run, incomplete scores...)."""


class KnowledgeError(StudioError):
    """A knowledge source or file cannot be used (no passages, unknown source, duplicate name...)."""
