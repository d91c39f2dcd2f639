"""Analysis configurations: finding ``analyses/<name>/config.toml``, loading it, and ``--set`` overrides.

An analysis is a folder holding ``config.toml``: data only (datasets' labels, cuts, feature list,
model hyperparameters). Its ``processor`` key names the coffea processor as
``"<path relative to the analysis folder>:<ClassName>"``; see
:mod:`hepml_coffea.processing.registry` for how that file is imported (and shipped to Dask workers).

Where an analysis name is looked up, in order:

1. the argument itself, if it is a folder holding ``config.toml``;
2. each folder in the environment variable ``HEPML_COFFEA_ANALYSES`` (``os.pathsep``-separated);
3. ``./analyses/<name>`` in the current directory;
4. the source checkout next to the installed package (editable installs);
5. the reference analyses bundled inside the wheel (``hepml_coffea/_reference/analyses``).
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepml_coffea.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAME = "config.toml"
ENV_VAR = "HEPML_COFFEA_ANALYSES"


def analysis_search_path() -> list[Path]:
    """Folders searched for analyses, in order (see module docstring)."""
    here = Path(__file__).resolve().parent
    paths = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    paths += [Path.cwd() / "analyses", here.parent / "analyses", here / "_reference" / "analyses"]
    seen: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def find_analysis(name_or_path: str | os.PathLike) -> Path:
    """Return the folder of an analysis given its name or its path.

    Raises
    ------
    ConfigError
        If no folder with a ``config.toml`` is found; the message lists the known analyses.
    """
    candidate = Path(name_or_path)
    if (candidate / CONFIG_NAME).is_file():
        return candidate.resolve()
    known: set[str] = set()
    for root in analysis_search_path():
        if (root / str(name_or_path) / CONFIG_NAME).is_file():
            return (root / str(name_or_path)).resolve()
        if root.is_dir():
            known.update(p.parent.name for p in root.glob(f"*/{CONFIG_NAME}"))
    msg = (
        f"Unknown analysis {str(name_or_path)!r}; known analyses: {sorted(known) or 'none'}. "
        f"Give a folder holding {CONFIG_NAME}, or add its parent folder to ${ENV_VAR}."
    )
    raise ConfigError(msg)


class ConfigDict(dict):
    """A configuration table: a ``dict`` whose missing keys are a one-line :class:`ConfigError`.

    A processor that reads ``config["cuts"]["min_bjets"]`` from a configuration lacking it gets
    ``ConfigError: ... has no key 'cuts.min_bjets' ...`` naming the file, instead of a bare
    ``KeyError`` in the middle of a run. Picklable (it travels to Dask workers).
    """

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, source: str = "", prefix: str = ""
    ) -> None:
        super().__init__()
        self.source = source
        self.prefix = prefix
        for k, v in dict(data or {}).items():
            self[k] = (
                ConfigDict(v, source=source, prefix=f"{prefix}{k}.")
                if isinstance(v, Mapping)
                else v
            )

    def __missing__(self, key: str) -> Any:
        where = f" in {self.source}" if self.source else ""
        known = ", ".join(sorted(map(str, self))) or "none"
        msg = (
            f"The analysis configuration{where} has no key '{self.prefix}{key}' "
            f"(keys of this table: {known}); add it there."
        )
        raise ConfigError(msg)

    def __reduce__(self) -> Any:
        return (_rebuild_config_dict, (dict(self), self.source, self.prefix))


def _rebuild_config_dict(data: dict, source: str, prefix: str) -> ConfigDict:
    out = ConfigDict(source=source, prefix=prefix)
    dict.update(out, data)
    return out


@dataclass
class AnalysisConfig:
    """A loaded analysis configuration.

    Parameters
    ----------
    name : str
        The analysis name (its folder name unless ``name`` is set in the file).
    path : Path
        The analysis folder.
    data : dict
        The nested configuration, after overrides.
    """

    name: str
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = ...) -> Any:
        """Value of a dotted key such as ``"btag.threshold"``."""
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is not ...:
                    return default
                msg = f"Analysis {self.name!r} has no configuration key {key!r}; add it to {self.path / CONFIG_NAME}."
                raise ConfigError(msg)
            node = node[part]
        return node

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the configuration; missing keys raise :class:`ConfigError`."""
        return ConfigDict(copy.deepcopy(self.data), source=str(self.path / CONFIG_NAME))


def load_analysis(name_or_path: str | os.PathLike, overrides: Iterable[str] = ()) -> AnalysisConfig:
    """Load ``config.toml`` of an analysis and apply ``key=value`` overrides."""
    folder = find_analysis(name_or_path)
    file = folder / CONFIG_NAME
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        msg = f"Cannot parse {file}: {exc}. Fix the TOML syntax there."
        raise ConfigError(msg) from None
    check_values(data, source=str(file))
    data = apply_overrides(data, overrides, source=str(file))
    return AnalysisConfig(name=data.get("name", folder.name), path=folder, data=data)


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML literal (``0.5``, ``true``, ``[1, 2]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(
    data: Mapping[str, Any], overrides: Iterable[str], source: str = "the configuration"
) -> dict:
    """Return a copy of ``data`` with dotted ``key=value`` overrides applied.

    Only keys that exist may be set, and the new value must have a compatible type, so that a
    typo (``btag.treshold``) is an error rather than a silently ignored setting.
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            msg = f"--set expects KEY=VALUE; got {item!r}. Example: --set btag.threshold=0.5"
            raise ConfigError(msg)
        key, raw = (s.strip() for s in item.split("=", 1))
        parts = key.split(".")
        node = out
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = sorted(_flat_keys(out))
                close = difflib.get_close_matches(key, known, n=3)
                hint = (
                    f" Did you mean {', '.join(close)}?"
                    if close
                    else f" Known keys: {', '.join(known)}."
                )
                msg = f"Unknown --set key {key!r} for {source}.{hint}"
                raise ConfigError(msg)
            if i < len(parts) - 1:
                node = node[part]
        old = node[parts[-1]]
        new = parse_value(raw)
        node[parts[-1]] = _coerce(key, old, new)
    return out


def check_values(data: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Refuse NaN anywhere in a configuration (a NaN cut silently passes or fails everything)."""
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            check_values(v, source, f"{key}.")
        elif isinstance(v, float) and math.isnan(v):
            msg = f"{source}: {key} is NaN; give a number (a NaN cut is never true)."
            raise ConfigError(msg)
        elif isinstance(v, list) and any(isinstance(x, float) and math.isnan(x) for x in v):
            msg = f"{source}: {key} holds a NaN; give numbers."
            raise ConfigError(msg)


def _coerce(key: str, old: Any, new: Any) -> Any:
    if isinstance(new, float) and math.isnan(new):
        msg = f"--set {key}: NaN is not a valid value; give a number (a NaN cut is never true)."
        raise ConfigError(msg)
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, int) and isinstance(new, (int, float)) and not isinstance(new, bool):
        if isinstance(new, float) and not new.is_integer():
            msg = f"--set {key}: expected an integer (like {old!r}); got {new!r}."
            raise ConfigError(msg)
        return int(new)
    elif isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool):
        return float(new)
    elif isinstance(old, str):
        return str(new)
    elif isinstance(old, list) and isinstance(new, list):
        return new
    elif isinstance(old, dict):
        msg = f"--set {key}: {key!r} is a table; set one of its keys, e.g. {key}.<name>=VALUE."
        raise ConfigError(msg)
    msg = f"--set {key}: expected a value of type {type(old).__name__} (like {old!r}); got {new!r}."
    raise ConfigError(msg)


def _flat_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for k, v in data.items():
        full = f"{prefix}{k}"
        if isinstance(v, Mapping):
            keys += _flat_keys(v, full + ".")
        else:
            keys.append(full)
    return keys
