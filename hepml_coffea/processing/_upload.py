"""A Dask worker plugin that unpacks a model folder into each worker's local directory.

``distributed``'s own ``UploadDirectory`` unpacks into the *nanny's* directory, which is not the
worker's ``local_directory`` (a ``worker-*`` subfolder of it), and does nothing for workers
started with ``--no-nanny``; :class:`~hepml_coffea.processing.inference.ModelScorer` looks in
``get_worker().local_directory``, so the folder is unpacked there, by the worker itself.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin


class ModelFolderPlugin(WorkerPlugin):
    """Unpack the folder ``path`` (zipped on the client) into ``worker.local_directory/<name>``.

    Also run on workers that join later (Dask re-runs registered plugins on new workers).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path).resolve()
        self.folder = path.name
        self.name = f"hepml-model-{path.name}-{abs(hash(str(path))):x}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(path.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(path.parent))
        self.data = buf.getvalue()

    def setup(self, worker) -> None:
        with zipfile.ZipFile(io.BytesIO(self.data)) as z:
            z.extractall(worker.local_directory)
