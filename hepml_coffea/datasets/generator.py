"""``generate``: write every process as NanoAOD-layout ROOT files plus ``fileset.json``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.datasets.corrections import write_corrections
from hepml_coffea.datasets.detector import reconstruct
from hepml_coffea.datasets.golden import LumiLayout, lumi_layout, write_golden, write_lumi_csv
from hepml_coffea.datasets.processes import (
    ALTERNATIVE_PROCESSES,
    MC_PROCESSES,
    PROCESSES,
    SIMULATED,
    generate_truth,
)
from hepml_coffea.datasets.weights import ps_weights, scale_weights
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
EVENTS_PER_LUMIBLOCK = 1_000
"""Simulation: events per luminosity block (run 1)."""


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _mc_block(process: str, seed: int, file_idx: int, block_idx: int, n: int) -> dict[str, Any]:
    p = SIMULATED[process]
    rng = _rng(seed, p.index, file_idx, block_idx)
    truth = generate_truth(process, rng, n)
    reco = reconstruct(truth, rng)
    reco["LHEScaleWeight"] = _per_event(scale_weights(process, truth, rng))
    reco["PSWeight"] = _per_event(ps_weights(truth))
    return reco


def _per_event(w: np.ndarray) -> ak.Array:
    """(n, k) → jagged ``var * k`` (written as ``n<Name>`` + ``<Name>``, as NanoAOD)."""
    return ak.unflatten(w.ravel(), np.full(len(w), w.shape[1]))


def _concat(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    if len(blocks) == 1:
        return blocks[0]
    out = {}
    for k, v in blocks[0].items():
        if isinstance(v, ak.Array):
            out[k] = ak.concatenate([b[k] for b in blocks])
        else:
            out[k] = np.concatenate([b[k] for b in blocks])
    return out


def _take(block: dict[str, Any], order: np.ndarray) -> dict[str, Any]:
    return {
        k: (v[order] if isinstance(v, ak.Array) else np.asarray(v)[order]) for k, v in block.items()
    }


def _finish(
    reco: dict[str, Any],
    first: int,
    *,
    weights: np.ndarray | None,
    run_lumi: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Prepend event ids (+ genWeight) and append the empty collections, NanoAOD order.

    Simulation has run 1 and ``EVENTS_PER_LUMIBLOCK`` events per luminosity block; pseudo-data
    have the (run, lumi) of ``run_lumi``.
    """
    n = len(reco["PV_npvs"])
    idx = np.arange(first, first + n, dtype=np.uint64)
    if run_lumi is None:
        run_lumi = (np.ones(n, np.uint32), (1 + idx // EVENTS_PER_LUMIBLOCK).astype(np.uint32))
    out: dict[str, Any] = {
        "run": run_lumi[0],
        "luminosityBlock": run_lumi[1],
        "event": idx + np.uint64(1),
    }
    if weights is not None:
        out["genWeight"] = weights.astype(np.float32)
    out |= reco
    out |= empty_collections(n, mc=weights is not None)
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
    unknown = [p for p in processes if p not in PROCESSES and p not in ALTERNATIVE_PROCESSES]
    if unknown or not processes:
        msg = f"unknown process(es) {unknown}; choose from {[*PROCESSES, *ALTERNATIVE_PROCESSES]}"
        raise ConfigError(msg)
    if lumi is not None and not lumi > 0:
        msg = f"lumi must be a positive luminosity in pb^-1; got {lumi!r}"
        raise ConfigError(msg)
    if nwf is not None and not 0.0 <= nwf < 0.5:
        msg = f"negative_weight_fraction must be in [0, 0.5); got {nwf!r}"
        raise ConfigError(msg)


def _check_data_args(signal_strength, jes_shift, golden_drop_fraction):
    if not (np.isfinite(signal_strength) and signal_strength >= 0):
        msg = f"signal_strength (--signal-strength) must be a finite number >= 0; got {signal_strength!r}"
        raise ConfigError(msg)
    if not (np.isfinite(jes_shift) and abs(jes_shift) <= 5):
        msg = f"jes_shift (--jes-shift) must be a number of standard deviations in [-5, 5]; got {jes_shift!r}"
        raise ConfigError(msg)
    if not 0.0 <= golden_drop_fraction < 0.5:
        msg = f"golden_drop_fraction (--golden-drop-fraction) must be in [0, 0.5); got {golden_drop_fraction!r}"
        raise ConfigError(msg)


def default_lumi(n_events: int) -> float:
    """Luminosity (pb^-1) giving pseudo-data of about ``n_events`` events in all."""
    return n_events / sum(p.xsec for p in MC_PROCESSES.values())


@dataclass(frozen=True)
class _PseudoData:
    """What the pseudo-data are made of: per event the process (index into ``MC_PROCESSES``)
    and the luminosity section (index into ``layout``), in recording order."""

    labels: np.ndarray
    sections: np.ndarray
    layout: LumiLayout
    seed: int
    jes_shift: float


def _pseudo_data(seed: int, lumi: float, mu: float, drop: float, jes_shift: float) -> _PseudoData:
    """Poisson counts per process for the *recorded* luminosity (signal × ``mu``), shuffled, each
    event in a uniformly random luminosity section (sections in order)."""
    rng = _rng(seed, 0)
    scale = {name: (mu if p.label == 1 else 1.0) for name, p in MC_PROCESSES.items()}
    expected = sum(p.xsec * scale[name] * lumi for name, p in MC_PROCESSES.items())
    layout = lumi_layout(_rng(seed, 0, 99), lumi, expected / max(1.0 - drop, 1e-9), drop)
    rec = layout.recorded_lumi
    counts = [int(rng.poisson(p.xsec * scale[name] * rec)) for name, p in MC_PROCESSES.items()]
    n = sum(counts)
    labels = np.repeat(np.arange(len(MC_PROCESSES)), counts)[rng.permutation(n)]
    sections = np.sort(rng.integers(0, layout.n_ls, n))
    return _PseudoData(labels, sections, layout, seed, jes_shift)


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
    signal_strength: float = 1.0,
    jes_shift: float = 0.0,
    data_seed: int | None = None,
    golden_drop_fraction: float = 0.05,
    progress: bool = True,
) -> Path:
    """Generate NanoAOD-layout ROOT files for each process and write ``out/fileset.json``.

    Also writes ``out/corrections.json`` (correctionlib: scale factors, pileup weight, JES/JER;
    see :mod:`~hepml_coffea.datasets.corrections`) and, with the pseudo-data, ``out/golden.json``
    and ``out/lumi.csv`` (see :mod:`~hepml_coffea.datasets.golden`).

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
        Subset of ``PROCESSES`` (default all: the MC processes and ``data``), plus any of
        ``ALTERNATIVE_PROCESSES`` (``ttbar_tune``: metadata ``process`` "ttbar", ``variation``
        "ttbar_tuneUp"; only when named).
    lumi : float, optional
        Integrated luminosity of the pseudo-data in the golden JSON, in pb^-1 (what simulation is
        normalised to); default ``default_lumi(n_events)`` (about ``n_events`` data events in
        all). Stored as ``metadata["lumi"]`` of every dataset.
    negative_weight_fraction : float, optional
        Fraction of ``ttbar_semilep`` events with negative genWeight (default 0.03).
    signal_strength : float, default 1
        Pseudo-data only: the signal (ttbar) is injected at this multiple of its cross section.
    jes_shift : float, default 0
        Pseudo-data only: jets shifted by this many σ of ``jes_uncertainty``, MET propagated.
    data_seed : int, optional
        Seed of the pseudo-data alone (default ``seed``): toys with the same simulation.
    golden_drop_fraction : float, default 0.05
        Fraction of the pseudo-data's luminosity sections left out of ``golden.json``
        (exactly ``round(fraction · n_sections)``).
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
    _check_data_args(signal_strength, jes_shift, golden_drop_fraction)
    lumi = default_lumi(n_events) if lumi is None else float(lumi)
    data_seed = seed if data_seed is None else int(data_seed)
    comp = compression_for(compression, compression_level)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_corrections(out / "corrections.json")

    pdata = _pseudo_data(data_seed, lumi, signal_strength, golden_drop_fraction, jes_shift)
    n_data = len(pdata.labels)
    if "data" in processes:
        if n_data == 0:
            msg = f"lumi={lumi} pb^-1 gives no pseudo-data events; use a larger lumi"
            raise ConfigError(msg)
        write_golden(out / "golden.json", pdata.layout)
        write_lumi_csv(out / "lumi.csv", pdata.layout)
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
                    blocks = _data_blocks(pdata, fi, start, n_file, runs, bar)
                else:
                    frac = SIMULATED[name].negative_weight_fraction
                    if SIMULATED[name].label == 1 and negative_weight_fraction is not None:
                        frac = negative_weight_fraction
                    blocks = _mc_blocks(name, seed, fi, start, n_file, frac, runs, bar)
                wrote = write_nanoaod(
                    out / fname, blocks, runs, compression=comp, key=f"{seed}/{fname}"
                )
                if name != "data":
                    sumw += float(runs["genEventSumw"][0])
                assert wrote == n_file
                files[fname] = "Events"
            fileset[name] = {"files": files, "metadata": _metadata(name, total, sumw, lumi, seed)}
            if name == "data":
                lay = pdata.layout
                fileset[name]["metadata"] |= {
                    "seed": data_seed,
                    "signal_strength": float(signal_strength),
                    "jes_shift": float(jes_shift),
                    "recorded_lumi": lay.recorded_lumi,
                    "n_lumi_sections": lay.n_ls,
                    "n_lumi_sections_golden": lay.n_good,
                }
    path = out / "fileset.json"
    path.write_text(json.dumps(fileset, indent=2) + "\n")
    return path


def _metadata(name: str, total: int, sumw: float, lumi: float, seed: int) -> dict:
    proc = SIMULATED.get(name)
    if proc is None:  # collision data: no cross section, no Σ genWeight
        return {"is_data": True, "process": "data", "label": -1, "lumi": lumi,
                "n_events": total, "seed": seed, "lumi_mask": "golden.json"}  # fmt: skip
    return {
        "is_data": False,
        "xsec": proc.xsec,
        "process": proc.process,
        "label": proc.label,
        "lumi": lumi,
        "n_events": total,
        "sumw": sumw,
        "seed": seed,
        "corrections": "corrections.json",
    } | ({"variation": proc.variation} if proc.variation else {})


def _mc_blocks(name, seed, fi, start, n_file, frac, runs, bar) -> Iterator[dict[str, Any]]:
    """Yield the blocks of one MC file; fill ``runs`` (the Runs tree) at the end."""
    proc = SIMULATED[name]
    sumw = sumw2 = 0.0
    for bi, b0 in enumerate(range(0, n_file, BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_file - b0)
        reco = _mc_block(name, seed, fi, bi, n)
        sign_rng = _rng(seed, proc.index, fi, bi, 1)
        w = np.where(sign_rng.random(n) < frac, -proc.genweight, proc.genweight).astype(np.float32)
        sumw += float(w.sum(dtype=np.float64))
        sumw2 += float(np.square(w, dtype=np.float64).sum())
        yield _finish(reco, start + b0, weights=w)
        bar.update(n)
    runs |= {
        "run": np.array([1], np.uint32),
        "genEventCount": np.array([n_file], np.int64),
        "genEventSumw": np.array([sumw], np.float64),
        "genEventSumw2": np.array([sumw2], np.float64),
    }


def _data_blocks(pdata: _PseudoData, fi, start, n_file, runs, bar) -> Iterator[dict[str, Any]]:
    """Yield the blocks of one pseudo-data file, a shuffled mixture of the MC processes in
    increasing (run, lumi); fill ``runs`` (the Runs tree: the run numbers) at the end."""
    seen: list[np.ndarray] = []
    lay = pdata.layout
    for bi, b0 in enumerate(range(0, n_file, BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_file - b0)
        lab = pdata.labels[start + b0 : start + b0 + n]
        sec = pdata.sections[start + b0 : start + b0 + n]
        parts = []
        for k, (name, proc) in enumerate(MC_PROCESSES.items()):
            m = int((lab == k).sum())
            if m:
                rng = _rng(pdata.seed, 0, proc.index, fi, bi)
                truth = generate_truth(name, rng, m)
                drng = _rng(pdata.seed, 0, proc.index, fi, bi, 7)
                parts.append(reconstruct(truth, rng, data_rng=drng, jes_shift=pdata.jes_shift))
        # the parts are grouped by process; put them in the (random) order of the labels
        inv = np.empty(n, np.int64)
        inv[np.argsort(lab, kind="stable")] = np.arange(n)
        run_lumi = (lay.run[sec], lay.lumi[sec])
        done = _finish(_take(_concat(parts), inv), start + b0, weights=None, run_lumi=run_lumi)
        seen.append(np.unique(done["run"]))
        yield done
        bar.update(n)
    runs["run"] = np.unique(np.concatenate(seen)).astype(np.uint32)
