"""Moved to :mod:`hepml_coffea.workflows.outputs` (outputs belong with the workflows that write them).

Re-exported here for callers not yet updated; import from ``hepml_coffea.workflows.outputs``.
"""

from __future__ import annotations

from hepml_coffea.workflows.outputs import TableWriter, atomic_path, write_histograms, write_json

__all__ = ["TableWriter", "atomic_path", "write_histograms", "write_json"]
