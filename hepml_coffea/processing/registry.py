"""Import the processor named by an analysis configuration, by file path, Dask-ready.

An analysis' ``config.toml`` names its processor as ``"<file relative to the analysis folder>:<Class>"``,
for example ``"../../processors/ttbar_ljets.py:TTbarLJetsProcessor"``. The file is imported by path
under the module name ``hepml_processors.<stem>`` (no ``sys.path`` changes, no install needed), and
the module is registered with :func:`cloudpickle.register_pickle_by_value`. Processor instances are
therefore pickled *with their code*, so Dask workers that do not share the repository's working
directory (a remote cluster, dask-jobqueue, dask-gateway) can still unpickle and run them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hepml_coffea.config import AnalysisConfig
from hepml_coffea.errors import ConfigError

PACKAGE = "hepml_processors"


def import_by_path(path: str | Path, what: str = "analysis config") -> ModuleType:
    """Import a Python file as ``hepml_processors.<stem>`` and register it for pickling by value.

    Features the module registers (``register_feature``) at import are therefore defined on
    every worker too: unpickling the processor re-runs the module there.
    """
    import cloudpickle

    path = Path(path).resolve()
    if not path.is_file():
        fix = (
            "fix the 'processor' key of the analysis config"
            if what == "analysis config"
            else "give an existing path/to/module.py:ClassName"
        )
        msg = f"Processor file {path} does not exist; {fix}."
        raise ConfigError(msg)
    if PACKAGE not in sys.modules:
        pkg = ModuleType(PACKAGE)
        pkg.__path__ = []  # a namespace for processors imported by path
        sys.modules[PACKAGE] = pkg
    name = f"{PACKAGE}.{path.stem}"
    module = sys.modules.get(name)
    if module is not None and Path(getattr(module, "__file__", "")).resolve() == path:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


def processor_class(config: AnalysisConfig) -> type:
    """The coffea ``ProcessorABC`` subclass named by ``config["processor"]``."""
    spec = config.get("processor")
    file, _, cls_name = str(spec).partition(":")
    if not cls_name:
        msg = f"Analysis {config.name!r}: 'processor' must look like 'path/to/file.py:ClassName'; got {spec!r}."
        raise ConfigError(msg)
    module = import_by_path(config.path / file)
    try:
        return getattr(module, cls_name)
    except AttributeError:
        msg = f"Analysis {config.name!r}: {module.__file__} defines no class {cls_name!r}."
        raise ConfigError(msg) from None
