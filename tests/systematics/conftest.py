"""Fixtures of the systematics tests (the helpers live in syst_corrections.py: a module named
``conftest`` is ambiguous when imported from test files of several folders)."""

from syst_corrections import corrections_file  # noqa: F401
