"""Physics processes: which datasets form a process, and its legend label and colour.

The ``[processes]`` table of an analysis configuration::

    [processes.ttbar]
    label = '$t\\bar{t}$'        # legend label (LaTeX)
    color = "#e42536"
    datasets = ["ttbar_semilep"] # datasets grouped into this process

A dataset's process is, in order: ``data`` for collision data; the process whose ``datasets`` list
names it; its metadata key ``process``; the dataset name. A process without a table entry gets its
name as label and a colour from the CMS palette (in order of first appearance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hepml_coffea.errors import ConfigError

CMS_COLORS = ("#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd")
"""The CMS recommended colour cycle (Petroff 6)."""
DATA = "data"


@dataclass(frozen=True)
class ProcessInfo:
    """A physics process: ``name``, legend ``label``, ``color`` and its ``datasets``."""

    name: str
    label: str
    color: str
    datasets: tuple[str, ...] = ()


def process_table(config: Mapping[str, Any]) -> dict[str, ProcessInfo]:
    """The ``[processes]`` table as ``{name: ProcessInfo}`` (empty if absent).

    Raises
    ------
    ConfigError
        If a dataset is listed under two processes, or an entry is not a table.
    """
    table = config.get("processes") or {}
    out: dict[str, ProcessInfo] = {}
    owner: dict[str, str] = {}
    for i, (name, entry) in enumerate(table.items()):
        if not isinstance(entry, Mapping):
            msg = f"processes.{name} must be a table with label, color, datasets; got {entry!r}."
            raise ConfigError(msg)
        datasets = tuple(str(d) for d in entry.get("datasets", ()))
        for d in datasets:
            if d in owner:
                msg = f"Dataset {d!r} is listed in processes.{owner[d]} and processes.{name}; keep one."
                raise ConfigError(msg)
            owner[d] = str(name)
        out[str(name)] = ProcessInfo(
            name=str(name),
            label=str(entry.get("label", name)),
            color=str(entry.get("color", CMS_COLORS[i % len(CMS_COLORS)])),
            datasets=datasets,
        )
    return out


def process_of(table: Mapping[str, ProcessInfo], meta: Mapping[str, Any]) -> str:
    """The process of a dataset from its metadata (see the module docstring)."""
    if meta.get("is_data", False):
        return DATA
    dataset = str(meta.get("dataset", "unknown"))
    for info in table.values():
        if dataset in info.datasets:
            return info.name
    return str(meta.get("process") or dataset)


def process_info(table: Mapping[str, ProcessInfo], name: str, index: int = 0) -> ProcessInfo:
    """The :class:`ProcessInfo` of ``name``; a default (its name, a palette colour) if not configured."""
    if name in table:
        return table[name]
    color = "black" if name == DATA else CMS_COLORS[index % len(CMS_COLORS)]
    return ProcessInfo(name=name, label="Data" if name == DATA else name, color=color)
