"""The ml-physics step: accuracy bookkeeping by hand, and the whole step on generated samples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import uproot

from hepml_coffea.workflows.ml_physics import assignment_accuracy, half_width


def test_assignment_accuracy_by_hand():
    # event 0: true permutation 1, BDT picks 1 (max), chi2 picks 0 (min)
    # event 1: no true permutation among its 3 rows
    # event 2: true permutation is row 0; BDT picks row 1
    event = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    label = np.array([0, 1, 0, 0, 0, 0, 1, 0])
    score = np.array([0.1, 0.9, 0.2, 0.5, 0.4, 0.3, 0.3, 0.6])
    acc = assignment_accuracy(score, label, event)
    assert acc == {"matchable": 0.5, "all": pytest.approx(1 / 3), "n_events": 3, "n_matchable": 2}
    c2 = np.array([1.0, 2.0, 3.0, 0.5, 0.1, 0.2, 0.0, 5.0])
    acc2 = assignment_accuracy(c2, label, event, higher=False)
    assert acc2["matchable"] == 0.5 and acc2["n_matchable"] == 2


def test_half_width_is_gaussian_sigma():
    x = np.random.default_rng(0).normal(170.0, 15.0, 200_000)
    assert half_width(x, 0.0, 400.0) == pytest.approx(15.0, rel=0.02)
    assert np.isnan(half_width(x, 500.0, 600.0))


@pytest.mark.slow
def test_ml_physics_step_on_generated_samples(tmp_path):
    """~60 s: generate, train the three models, and check the report against the tables."""
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows.ml_physics import train_ml_physics

    gen = generate(tmp_path / "gen", n_events=6000, compression="zstd", progress=False)
    fs = (
        json.loads(gen.read_text())
        if gen.is_file()
        else json.loads((gen / "fileset.json").read_text())
    )
    first = next(iter(next(iter(fs.values()))["files"]))
    path = first if first.startswith("/") else str(tmp_path / "gen" / first)
    keys = set(uproot.open(path)["Events"].keys())
    needed = {"GenPart_pdgId", "GenJet_pt", "Jet_genJetIdx", "Jet_svMass"}
    if not needed <= keys:
        pytest.skip(f"the generator does not write {sorted(needed - keys)} yet")
    report = train_ml_physics("ttbar_ljets", gen, tmp_path / "out")
    a = report["assignment"]
    assert a["bdt"]["n_matchable"] > 100
    # the BDT beats the chi2 baseline on the same test events
    assert a["bdt"]["matchable"] > a["chi2"]["matchable"]
    assert 1 / 12 < a["chi2"]["matchable"] < 1
    t = report["jet_tag"]
    assert 0.5 < t["auc_btag_branch"] < t["auc_bdt"] <= 1
    p = report["photon_id"]
    assert 0.5 < p["auc_isolation"] < 1 and 0.5 < p["auc_bdt"] <= 1 and p["n_test_photons"] > 100
    r = report["regression"]
    assert (
        r["m_top_had_true_after"]["half_width_16_84"]
        < r["m_top_had_true_before"]["half_width_16_84"]
    )
    assert json.loads((tmp_path / "out" / "ml_physics.json").read_text())[
        "jet_tag"
    ] == pytest.approx(t)
    for model in ("assignment", "jet_tag", "photon_id", "regression"):
        assert (tmp_path / "out" / model / "model_card.json").is_file()
    # the AUCs are the weighted pairwise AUC on the odd-event b / light jets (with negative
    # weights, which sklearn's roc_auc_score refuses), and sklearn's with the weights' signs dropped
    from sklearn.metrics import roc_auc_score

    from hepml_coffea.config import load_analysis
    from hepml_coffea.estimators import load, signal_score
    from hepml_coffea.features.object_features import ObjectFeatureSpec, object_matrix
    from hepml_coffea.workflows.ml_physics_tables import collect

    cfg = load_analysis("ttbar_ljets")
    j = collect(cfg, gen)["jets"]
    spec = ObjectFeatureSpec.from_dict(cfg.to_dict()["object_features"]["jet_tag"])
    test = (j["event"] % 2 == 1) & np.isin(j["hadronFlavour"], (0, 5))
    y = j["hadronFlavour"][test] == 5
    tagger = load(tmp_path / "out" / "jet_tag")
    score = signal_score(tagger, pd.DataFrame(object_matrix(j, spec)[test], columns=spec.names))
    assert t["n_test_jets"] == int(test.sum())
    w = j["weight"][test]
    for key, sc in (("auc_bdt", score), ("auc_btag_branch", j["btag"][test])):
        assert t[key] == pytest.approx(_pairwise_auc(y, sc, w), rel=1e-9)
        assert roc_auc_score(y, sc, sample_weight=np.abs(w)) == pytest.approx(
            _pairwise_auc(y, sc, np.abs(w)), rel=1e-9
        )


def _pairwise_auc(y, score, w):
    """Σ w_s w_b ([s_s > s_b] + ½[s_s = s_b]) / (Σ w_s Σ w_b) over signal × background pairs."""
    ss, ws = score[y], w[y]
    sb, wb = score[~y], w[~y]
    num = 0.0
    for i in range(0, len(ss), 500):
        d = ss[i : i + 500, None] - sb[None, :]
        num += float(ws[i : i + 500] @ ((d > 0) + 0.5 * (d == 0)) @ wb)
    return num / (ws.sum() * wb.sum())


def test_cli_ml_physics_user_errors(tmp_path, capsys):
    from hepml_coffea.cli import main

    rc = main(["ml-physics", "ttbar_ljets", "--fileset", str(tmp_path / "nope.json"),
               "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "nope.json" in err and len(err.splitlines()) == 1
    rc = main(["ml-physics", "ttbar_ljets", "--fileset", str(tmp_path / "nope.json"),
               "--out", str(tmp_path / "out"), "--set", "assignment.n_jets=3"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "assignment.n_jets must be at least 4" in err


@pytest.mark.slow
def test_cli_ml_physics_on_generated_sample(tmp_path, capsys):
    """~20 s: the command prints the figures and writes the model folders."""
    from hepml_coffea.cli import main
    from hepml_coffea.datasets import generate

    generate(tmp_path / "gen", n_events=4000, compression="zstd", progress=False)
    rc = main(["ml-physics", "ttbar_ljets", "--fileset", str(tmp_path / "gen" / "fileset.json"),
               "--out", str(tmp_path / "out"), "--max-events", "3000"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    report = json.loads((tmp_path / "out" / "ml_physics.json").read_text())
    bdt = report["assignment"]["bdt"]["matchable"]
    assert f"BDT {bdt:.1%}" in out and "AUC" in out and "GeV" in out
