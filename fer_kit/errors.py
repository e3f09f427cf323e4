"""Typed errors: every bad input becomes one clear message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class FerKitError(Exception):
    """Base class of every error the kit raises on purpose.

    ``path`` names the offending file or folder (if any); ``str(error)`` reads
    ``"<path>: <problem>"`` so a CLI can print it as one line.
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class UsageError(FerKitError, ValueError):
    """A bad argument or option value (an unknown preset, dataset or recipe; a split that cannot be made).

    Also a ``ValueError``, which is what a Python caller expects of a bad argument.
    """


class InputFileError(FerKitError):
    """A file is missing, unreadable, truncated or of an unsupported kind."""


class NoFaceError(FerKitError):
    """No face was found in an image, or in any frame of a video."""


class DatasetLayoutError(FerKitError):
    """A dataset folder does not have the layout its adapter expects."""


class ModelFileError(FerKitError):
    """A model file (landmark predictor, Keras model, run folder) is missing or invalid."""
