"""``generate``: write every process as NanoAOD-layout ROOT files plus ``fileset.json``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import awkward as ak
import numpy as np

from hepml_coffea.datasets.detector import reconstruct
from hepml_coffea.datasets.processes import MC_PROCESSES, PROCESSES, generate_truth
from hepml_coffea.datasets.writer import (
    COMPRESSIONS,
    compression_for,
    empty_collections,
    write_nanoaod,
)
from hepml_coffea.errors import ConfigError

__all__ = ["BLOCK_SIZE", "generate"]

BLOCK_SIZE = 20_000
"""Events generated (and written as one basket) at a time; bounds memory."""
DATA_RUN0 = 316_000
EVENTS_PER_LUMIBLOCK = 1_000


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _mc_block(process: str, seed: int, file_idx: int, block_idx: int, n: int) -> dict[str, object]:
    p = MC_PROCESSES[process]
    rng = _rng(seed, p.index, file_idx, block_idx)
    truth = generate_truth(process, rng, n)
    return reconstruct(truth, rng)


def _concat(blocks: list[dict[str, object]]) -> dict[str, object]:
    if len(blocks) == 1:
        return blocks[0]
    out = {}
    for k, v in blocks[0].items():
        if isinstance(v, ak.Array):
            out[k] = ak.concatenate([b[k] for b in blocks])
        else:
            out[k] = np.concatenate([b[k] for b in blocks])
    return out


def _take(block: dict[str, object], order: np.ndarray) -> dict[str, object]:
    return {
        k: (v[order] if isinstance(v, ak.Array) else np.asarray(v)[order]) for k, v in block.items()
    }


def _finish(
    reco: dict[str, object], first: int, *, is_data: bool, weights: np.ndarray | None
) -> dict[str, object]:
    """Prepend event ids (+ genWeight) and append the empty collections, NanoAOD order."""
    n = len(reco["PV_npvs"])
    idx = np.arange(first, first + n, dtype=np.uint64)
    run = np.full(n, 1, np.uint32) if not is_data else (DATA_RUN0 + idx // 50_000).astype(np.uint32)
    out: dict[str, object] = {
        "run": run,
        "luminosityBlock": (1 + idx // EVENTS_PER_LUMIBLOCK).astype(np.uint32),
        "event": idx + np.uint64(1),
    }
    if weights is not None:
        out["genWeight"] = weights.astype(np.float32)
    out |= reco
    out |= empty_collections(n)
    return out


def _check_args(n_events, compression, compression_level, events_per_file, processes, lumi, nwf):
    if not isinstance(n_events, (int, np.integer)) or n_events < 1:
        msg = f"n_events must be a positive integer (events per MC process); got {n_events!r}"
        raise ConfigError(msg)
    if compression not in COMPRESSIONS:
        msg = f"compression must be one of {sorted(COMPRESSIONS)}; got {compression!r}"
        raise ConfigError(msg)
    if compression_level is not None and not 1 <= compression_level <= 9:
        msg = f"compression_level must be in 1..9; got {compression_level!r}"
        raise ConfigError(msg)
    if events_per_file is not None and events_per_file < 1:
        msg = f"events_per_file must be a positive integer or None (one file per process); got {events_per_file!r}"
        raise ConfigError(msg)
    unknown = [p for p in processes if p not in PROCESSES]
    if unknown or not processes:
        msg = f"unknown process(es) {unknown}; choose from {list(PROCESSES)}"
        raise ConfigError(msg)
    if lumi is not None and not lumi > 0:
        msg = f"lumi must be a positive luminosity in pb^-1; got {lumi!r}"
        raise ConfigError(msg)
    if nwf is not None and not 0.0 <= nwf < 0.5:
        msg = f"negative_weight_fraction must be in [0, 0.5); got {nwf!r}"
        raise ConfigError(msg)


def default_lumi(n_events: int) -> float:
    """Luminosity (pb^-1) giving pseudo-data of about ``n_events`` events in all."""
    return n_events / sum(p.xsec for p in MC_PROCESSES.values())


def generate(
    out: str | Path,
    *,
    n_events: int = 100_000,
    seed: int = 42,
    compression: str = "lzma",
    compression_level: int | None = None,
    events_per_file: int | None = None,
    processes: Sequence[str] | None = None,
    lumi: float | None = None,
    negative_weight_fraction: float | None = None,
    progress: bool = True,
) -> Path:
    """Generate NanoAOD-layout ROOT files for each process and write ``out/fileset.json``.

    Parameters
    ----------
    out : path-like
        Output folder (created). Files are ``out/<process>_<i>.root``.
    n_events : int, default 100000
        Events per MC process.
    seed : int, default 42
        Random seed. The same seed (and version) gives byte-identical files.
    compression : {'lzma', 'zstd', 'zlib', 'lz4'}, default 'lzma'
        ROOT compression algorithm (LZMA, as CMS NanoAOD).
    compression_level : int, optional
        1–9; default LZMA 9, ZSTD 5, ZLIB 4, LZ4 4.
    events_per_file : int, optional
        Split each process into files of at most this many events (default: one file).
    processes : sequence of str, optional
        Subset of ``PROCESSES`` (default all: the MC processes and ``data``).
    lumi : float, optional
        Integrated luminosity of the pseudo-data in pb^-1; default ``default_lumi(n_events)``
        (about ``n_events`` data events in all). Stored as ``metadata["lumi"]`` of every dataset.
    negative_weight_fraction : float, optional
        Fraction of ``ttbar_semilep`` events with negative genWeight (default 0.03).
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    pathlib.Path
        Path of ``fileset.json``.
    """
    from tqdm.auto import tqdm

    processes = list(PROCESSES) if processes is None else list(processes)
    _check_args(n_events, compression, compression_level, events_per_file, processes, lumi,
                negative_weight_fraction)  # fmt: skip
    lumi = default_lumi(n_events) if lumi is None else float(lumi)
    comp = compression_for(compression, compression_level)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    data_rng = _rng(seed, 0)
    data_counts = {name: int(data_rng.poisson(p.xsec * lumi)) for name, p in MC_PROCESSES.items()}
    n_data = sum(data_counts.values())
    data_labels = np.repeat(np.arange(len(MC_PROCESSES)), list(data_counts.values()))
    data_labels = data_labels[data_rng.permutation(n_data)]

    if "data" in processes and n_data == 0:
        msg = f"lumi={lumi} pb^-1 gives no pseudo-data events; use a larger lumi"
        raise ConfigError(msg)
    sizes = {p: (n_data if p == "data" else n_events) for p in processes}
    fileset: dict[str, dict] = {}
    with tqdm(total=sum(sizes.values()), unit="ev", disable=not progress, desc="generate") as bar:
        for name in processes:
            total = sizes[name]
            files = {}
            sumw = 0.0
            per_file = events_per_file or max(total, 1)
            for fi, start in enumerate(range(0, max(total, 1), per_file)):
                n_file = min(per_file, total - start)
                fname = f"{name}_{fi}.root"
                runs: dict[str, np.ndarray] = {}
                if name == "data":
                    blocks = _data_blocks(seed, fi, start, n_file, data_labels, runs, bar)
                    wrote = write_nanoaod(
                        out / fname, blocks, runs, compression=comp, key=f"{seed}/{fname}"
                    )
                else:
                    frac = MC_PROCESSES[name].negative_weight_fraction
                    if name == "ttbar_semilep" and negative_weight_fraction is not None:
                        frac = negative_weight_fraction
                    blocks = _mc_blocks(name, seed, fi, start, n_file, frac, runs, bar)
                    wrote = write_nanoaod(
                        out / fname, blocks, runs, compression=comp, key=f"{seed}/{fname}"
                    )
                    sumw += float(runs["genEventSumw"][0])
                assert wrote == n_file
                files[fname] = "Events"
            proc = MC_PROCESSES.get(name)
            fileset[name] = {
                "files": files,
                "metadata": {
                    "is_data": name == "data",
                    "xsec": proc.xsec if proc else 0.0,
                    "process": name,
                    "label": proc.label if proc else -1,
                    "lumi": lumi,
                    "n_events": total,
                    "sumw": sumw if proc else 0.0,
                    "seed": seed,
                },
            }
    path = out / "fileset.json"
    path.write_text(json.dumps(fileset, indent=2) + "\n")
    return path


def _mc_blocks(name, seed, fi, start, n_file, frac, runs, bar) -> Iterator[dict[str, object]]:
    """Yield the blocks of one MC file; fill ``runs`` (the Runs tree) at the end."""
    proc = MC_PROCESSES[name]
    sumw = sumw2 = 0.0
    for bi, b0 in enumerate(range(0, n_file, BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_file - b0)
        reco = _mc_block(name, seed, fi, bi, n)
        sign_rng = _rng(seed, proc.index, fi, bi, 1)
        w = np.where(sign_rng.random(n) < frac, -proc.genweight, proc.genweight).astype(np.float32)
        sumw += float(w.sum(dtype=np.float64))
        sumw2 += float(np.square(w, dtype=np.float64).sum())
        yield _finish(reco, start + b0, is_data=False, weights=w)
        bar.update(n)
    runs |= {
        "run": np.array([1], np.uint32),
        "genEventCount": np.array([n_file], np.int64),
        "genEventSumw": np.array([sumw], np.float64),
        "genEventSumw2": np.array([sumw2], np.float64),
    }


def _data_blocks(seed, fi, start, n_file, labels, runs, bar) -> Iterator[dict[str, object]]:
    """Yield the blocks of one pseudo-data file, a shuffled mixture of the MC processes; fill
    ``runs`` (the Runs tree: the run numbers) at the end."""
    seen: list[np.ndarray] = []
    for bi, b0 in enumerate(range(0, n_file, BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_file - b0)
        lab = labels[start + b0 : start + b0 + n]
        parts = []
        for k, (name, proc) in enumerate(MC_PROCESSES.items()):
            m = int((lab == k).sum())
            if m:
                rng = _rng(seed, 0, proc.index, fi, bi)
                parts.append(reconstruct(generate_truth(name, rng, m), rng))
        # the parts are grouped by process; put them in the (random) order of the labels
        inv = np.empty(n, np.int64)
        inv[np.argsort(lab, kind="stable")] = np.arange(n)
        done = _finish(_take(_concat(parts), inv), start + b0, is_data=True, weights=None)
        seen.append(np.unique(done["run"]))
        yield done
        bar.update(n)
    runs["run"] = np.unique(np.concatenate(seen)).astype(np.uint32)
