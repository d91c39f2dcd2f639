"""The columns that identify an event in every table: one definition, imported by everyone."""

from __future__ import annotations

__all__ = ["ID_COLUMNS"]

#: NanoAOD branches identifying an event (run, lumi section, event number), in this order.
ID_COLUMNS = ("run", "luminosityBlock", "event")
