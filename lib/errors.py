"""Errors meant for users: their message is shown as is."""


class StudioError(Exception):
    """Base class for errors whose message a user can act on."""


class DatasetError(StudioError):
    """A dataset or file cannot be used (bad columns, unknown dataset, duplicate name...)."""
