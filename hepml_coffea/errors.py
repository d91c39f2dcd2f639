"""Exceptions that carry a one-line, user-facing message.

Every error a physicist can cause with bad input (a missing file, a wrong branch, an unknown
``--set`` key, ...) is raised as one of these. The message names the thing that is wrong and
how to fix it; the CLI prints it on one line with no traceback unless ``--debug`` is given.
"""

from __future__ import annotations


class HepmlError(Exception):
    """Base class of all user-facing errors of hepml-coffea."""


class FilesetError(HepmlError, ValueError):
    """A fileset is malformed, or names a file or tree that cannot be read."""


class InputFileError(HepmlError, OSError):
    """A ROOT input file is missing, corrupt, truncated, empty or lacks a tree."""


class MissingBranchError(HepmlError, KeyError):
    """A branch required by the analysis is absent from an input file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(HepmlError, ValueError):
    """An analysis configuration or a ``--set key=value`` override is invalid."""


class ModelError(HepmlError, ValueError):
    """A saved model is tampered with, of the wrong type, or incompatible with the features."""


class BadValueError(InputFileError):
    """An input branch or an output column holds a non-finite or unphysical value (corruption)."""


class OutputError(HepmlError, OSError):
    """An output cannot be written (disk full, a file where a folder is needed, a locked folder)."""
