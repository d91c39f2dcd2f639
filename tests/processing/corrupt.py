"""Small NanoAOD-layout samples with known Σ genWeight, and basket corruption made by the tests."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

BASKET = 500  # entries per basket (each extend() writes one basket per branch)


def make_sample(path: Path, n: int = 2000, seed: int = 1, compression=None) -> float:
    """Write ``Events`` (muons, jets, MET, genWeight, ids) and ``Runs``; return Σ genWeight."""
    rng = np.random.default_rng(seed)
    n_mu = rng.choice([0, 1, 2, 2, 3], n)
    n_jet = rng.poisson(3, n)

    def coll(counts, **fields):
        total = int(counts.sum())
        return ak.zip(
            {k: ak.unflatten(f(total).astype(np.float32), counts) for k, f in fields.items()}
        )

    muon = coll(
        n_mu,
        pt=lambda t: rng.exponential(30, t) + 5,
        eta=lambda t: rng.normal(0, 1.2, t),
        phi=lambda t: rng.uniform(-3, 3, t),
        mass=lambda t: np.full(t, 0.1057),
    )
    muon = ak.with_field(
        muon, ak.unflatten(rng.choice([-1, 1], int(n_mu.sum())).astype(np.int32), n_mu), "charge"
    )
    jet = coll(
        n_jet,
        pt=lambda t: rng.exponential(40, t) + 20,
        eta=lambda t: rng.normal(0, 1.5, t),
        phi=lambda t: rng.uniform(-3, 3, t),
        mass=lambda t: rng.exponential(5, t),
    )
    gw = (rng.choice([1.0, -1.0], n, p=[0.8, 0.2]) * rng.uniform(0.5, 1.5, n)).astype(np.float32)
    data = {
        "run": np.full(n, 1, np.uint32),
        "luminosityBlock": (np.arange(n) // 100 + 1).astype(np.uint32),
        "event": np.arange(n, dtype=np.uint64) + 1 + 10_000 * seed,
        "genWeight": gw,
        "MET_pt": rng.exponential(40, n).astype(np.float32),
        "MET_phi": rng.uniform(-3, 3, n).astype(np.float32),
        "Muon": muon,
        "Jet": jet,
    }
    sumw = float(gw.astype(np.float64).sum())
    with uproot.recreate(path, compression=compression) as f:
        f.mktree(
            "Events", {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
        )
        for a in range(0, n, BASKET):
            f["Events"].extend({k: v[a : a + BASKET] for k, v in data.items()})
        f.mktree("Runs", {"run": np.uint32, "genEventSumw": np.float64})
        f["Runs"].extend({"run": np.array([1], np.uint32), "genEventSumw": np.array([sumw])})
    return sumw


def corrupt(
    src: Path, dst: Path, branch: str, basket: int = 1, mode: str = "scramble"
) -> tuple[int, int]:
    """Copy ``src`` to ``dst`` with ``branch``'s basket ``basket`` damaged; return its entry range.

    ``scramble`` rewrites the compressed payload (decompression fails, or garbage values);
    ``nan`` overwrites values with NaN / 3.4e38 patterns (for uncompressed files).
    """
    with uproot.open(src) as f:
        b = f["Events"][branch]
        seek = int(b.member("fBasketSeek")[basket])
        nbytes = int(b.member("fBasketBytes")[basket])
        keylen = b.basket_key(basket).fKeylen
        start, stop = (int(x) for x in b.basket_entry_start_stop(basket))
    data = bytearray(src.read_bytes())
    lo = seek + keylen
    if mode == "scramble":
        for i in range(lo + 12, seek + nbytes - 4):
            data[i] = (data[i] * 7 + 13) % 256
    else:  # float32 big-endian: 7f ff ff ff = NaN, 7f 7f ff ff = 3.4e38
        for i in range(lo + 16, lo + 64):
            data[i] = 0x7F if (i - lo) % 4 == 0 else 0xFF
    dst.write_bytes(bytes(data))
    return start, stop
