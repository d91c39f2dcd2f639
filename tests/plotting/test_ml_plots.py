"""ROC, overtraining, score, correlation, importance, confusion, learning-curve,
significance and cutflow plots: artists, labels, CMS label; PNGs saved to look at."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import StepPatch

from hepml_coffea import evaluation as ev
from hepml_coffea import plotting as hp


@pytest.fixture(scope="module")
def scores():
    """BDT-like scores of a train and a test sample, with a few negative weights."""
    rng = np.random.default_rng(9)

    def sample(n):
        y = rng.integers(0, 2, n)
        s = 1 / (1 + np.exp(-rng.normal(np.where(y == 1, 1.2, -1.2), 1.3)))
        w = np.where(y == 1, 0.05, 0.5) * rng.choice([1.0, -1.0], n, p=[0.95, 0.05])
        return y, s, w

    return sample(6000), sample(4000)


def _label_texts(ax):
    return [t.get_text() for t in ax.texts]


def _check_label(ax, lumi_str="138", status="Simulation"):
    texts = _label_texts(ax)
    assert "CMS" in texts and status in texts
    assert any(t.startswith(lumi_str) and "fb$^{-1}$ (13 TeV)" in t for t in texts), texts


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("kind", ["rejection", "efficiency"])
def test_roc_curves(scores, kind, plot_dir):
    (y, s, w), _ = scores
    fpr, tpr, _ = ev.roc_curve(y, s, w)
    auc = ev.roc_auc(y, s, w)
    fpr2, tpr2, _ = ev.roc_curve(y, s**3 + 0.3 * np.random.default_rng(0).uniform(size=y.size), w)
    ax = hp.roc_curves({"BDT": (fpr, tpr, auc), "DNN": (fpr2, tpr2)}, kind=kind, lumi=138)
    legend = _legend(ax)
    assert legend[0] == f"BDT (AUC = {auc:.3f})"
    assert legend[1] == f"DNN (AUC = {np.trapezoid(tpr2, fpr2):.3f})"
    assert len(ax.lines) == (2 if kind == "rejection" else 3)
    if kind == "rejection":
        assert ax.get_yscale() == "log" and "rejection" in ax.get_ylabel()
        np.testing.assert_allclose(ax.lines[0].get_ydata(), 1 / fpr[fpr > 0])
    assert "Signal efficiency" in (ax.get_xlabel() + ax.get_ylabel())
    _check_label(ax)
    hp.savefig(ax, plot_dir / f"roc_{kind}.png")


def test_overtraining(scores, plot_dir):
    (yt, st, wt), (yv, sv, wv) = scores
    rep = ev.overtraining_report(yt, st, yv, sv, wt, wv)
    ks = {c: r["pvalue"] for c, r in rep.items()}
    ax = hp.overtraining(
        yt, st, yv, sv, wt, wv, ks_pvalues=ks, bins=25, range=(0, 1), xlabel="BDT score", lumi=138
    )
    legend = _legend(ax)
    # scientific notation: a p-value of 1.7e-9 must not print as 0.000
    assert f"Signal (train), KS p = {rep['signal']['pvalue']:.1e}" in legend
    assert f"Background (train), KS p = {rep['background']['pvalue']:.1e}" in legend
    ax2 = hp.overtraining(yt, st, yv, sv, ks_pvalues={"signal": 1.7e-9}, range=(0, 1))
    assert "Signal (train), KS p = 1.7e-09" in _legend(ax2)
    assert "Background (train)" in _legend(ax2)  # no p-value given: none printed
    assert "Signal (test)" in legend and "Background (test)" in legend
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 2
    filled = [p for p in ax.patches if isinstance(p, StepPatch) and p.get_fill()]
    assert len(filled) == 2
    for p in filled:  # unit area
        d = p.get_data()
        assert np.sum(d.values * np.diff(d.edges)) == pytest.approx(1.0)
    assert ax.get_xlabel() == "BDT score" and ax.get_ylabel() == "Normalised to unit area"
    _check_label(ax)
    hp.savefig(ax, plot_dir / "overtraining.png")


def test_score_distributions(scores, plot_dir):
    (y, s, w), _ = scores
    ax = hp.score_distributions(
        {"signal": (s[y == 1], w[y == 1]), "background": (s[y == 0], w[y == 0])},
        density=False,
        range=(0, 1),
        bins=20,
        lumi=138,
    )
    steps = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert len(steps) == 2
    np.testing.assert_allclose(steps[0].get_data().values.sum(), w[y == 1].sum(), rtol=1e-12)
    assert _legend(ax) == ["signal", "background"] and ax.get_ylabel() == "Events / bin"
    _check_label(ax)
    hp.savefig(ax, plot_dir / "scores.png")


def test_correlation_matrix(plot_dir):
    rng = np.random.default_rng(1)
    names = ["lep_pt", "lep_eta", "n_jets", "n_bjets", "ht", "mjjj", "met_pt"]
    cov = np.eye(7) + 0.5 * np.outer(
        np.r_[1, 0, 1, 0.5, 1, 0.8, 0.3], np.r_[1, 0, 1, 0.5, 1, 0.8, 0.3]
    )
    X = rng.multivariate_normal(np.zeros(7), cov, 2000)
    corr = ev.weighted_corrcoef(X)
    ax = hp.correlation_matrix(corr, names, title="Signal", lumi=138)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    annotations = [
        t
        for t in ax.texts
        if t.get_text() not in ("CMS", "Simulation") and "fb" not in t.get_text()
    ]
    assert len(annotations) == 49
    assert annotations[1].get_text() == f"{100 * corr[0, 1]:.0f}"
    assert ax.figure.axes[1].get_ylabel() == "Signal: linear correlation [%]"
    _check_label(ax)
    hp.savefig(ax, plot_dir / "correlation_signal.png")


def test_feature_importance(plot_dir):
    names = ["ht", "mjjj", "n_bjets", "lep_pt", "met_pt"]
    imp = np.array([0.08, 0.12, 0.05, 0.01, -0.002])
    err = np.array([0.01, 0.015, 0.004, 0.002, 0.001])
    ax = hp.feature_importance(names, imp, err, lumi=138)
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    widths = [p.get_width() for p in bars.patches]
    assert widths == sorted(imp.tolist())  # bottom to top ascending → largest on top
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "mjjj"
    assert "AUC" in ax.get_xlabel()
    _check_label(ax)
    hp.savefig(ax, plot_dir / "importance.png")


def test_confusion_matrix(scores, plot_dir):
    (y, s, w), _ = scores
    w = np.abs(w)
    cm = ev.confusion_matrix_at(y, s, 0.47, w)
    ax = hp.confusion_matrix(cm, threshold=0.47, score_name="BDT score", lumi=138)
    values = [t.get_text() for t in ax.texts][:4]
    frac = cm / cm.sum(axis=1, keepdims=True)
    # weighted counts, with the fraction of the true class below
    assert values == [f"{v:.4g}\n({f:.1%})" for v, f in zip(cm.ravel(), frac.ravel(), strict=True)]
    assert ax.get_xlabel() == (
        "Predicted class (BDT score ≥ 0.47: signal)\n"
        "Cells: Weighted events (fraction of the true class)"
    )
    assert ax.get_ylabel() == "True class"
    assert ax.figure.axes[1].get_ylabel() == "Fraction of the true class"
    _check_label(ax)
    hp.savefig(ax, plot_dir / "confusion.png")


def test_learning_curve(plot_dir):
    sizes = np.array([100, 300, 1000, 3000, 10000])
    train = np.array([[0.99, 0.98], [0.95, 0.94], [0.91, 0.92], [0.90, 0.90], [0.89, 0.895]])
    val = np.array([[0.80, 0.82], [0.85, 0.84], [0.87, 0.875], [0.88, 0.885], [0.888, 0.889]])
    ax = hp.learning_curve(sizes, train, val, lumi=138)
    assert _legend(ax) == ["Training", "Validation"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), train.mean(axis=1))
    assert ax.get_xscale() == "log" and "AUC" in ax.get_ylabel()
    _check_label(ax)
    hp.savefig(ax, plot_dir / "learning_curve.png")


def test_significance_scan(scores, plot_dir):
    (y, s, w), _ = scores
    w = np.abs(w) * 20
    scan = ev.significance_scan(y, s, w, cuts=np.linspace(0, 0.99, 100))
    base = ev.selection_significance(y, s > 0.5, w)["z"]
    ax = hp.significance_scan(scan.cuts, scan.z, best_cut=scan.best_cut, baseline_z=base, lumi=138)
    legend = _legend(ax)
    assert legend[1] == f"Best cut {scan.best_cut:.3g}: $Z_A$ = {scan.best_z:.2f}"
    assert legend[2].startswith("Cut-based")
    assert ax.lines[1].get_xdata()[0] == scan.best_cut
    assert "Z_A" in ax.get_ylabel()
    _check_label(ax)
    hp.savefig(ax, plot_dir / "significance.png")


def test_cutflow(plot_dir):
    cuts = ["all", "trigger", "1 lepton", "≥4 jets", "≥1 b-tag"]
    flows = {
        "ttbar_semilep": dict(zip(cuts, [6e5, 4.2e5, 2.1e5, 9e4, 7.5e4], strict=True)),
        "wjets": dict(zip(cuts, [6e7, 3e7, 1.6e7, 1.5e5, 2.1e4], strict=True)),
        "dy": dict(zip(cuts, [2e7, 1.1e7, 1e6, 1.2e4, 2e3], strict=True)),
        "data": dict(zip(cuts, [9e7, 4.4e7, 1.75e7, 2.6e5, 1.0e5], strict=True)),
    }
    ax = hp.cutflow(flows, lumi=138)
    assert [t.get_text() for t in ax.get_xticklabels()] == cuts
    assert ax.get_yscale() == "log"
    assert _legend(ax) == ["ttbar_semilep", "wjets", "dy", "MC total", "Data"]
    np.testing.assert_allclose(ax.lines[1].get_ydata()[:-1], list(flows["wjets"].values()))
    total = sum(np.array(list(flows[d].values())) for d in ("ttbar_semilep", "wjets", "dy"))
    np.testing.assert_allclose(ax.lines[3].get_ydata()[:-1], total)  # MC total line
    data_pts = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    np.testing.assert_allclose(data_pts.lines[0].get_ydata(), list(flows["data"].values()))
    ratios = [
        t.get_text() for t in ax.texts if t.get_text()[:1].isdigit() and "fb" not in t.get_text()
    ]
    assert ratios == [f"{d / m:.2f}" for d, m in zip(flows["data"].values(), total, strict=True)]
    _check_label(ax, status="Preliminary")
    hp.savefig(ax, plot_dir / "cutflow.png")
    with pytest.raises(ValueError, match="same cuts"):
        hp.cutflow({"a": {"x": 1, "y": 1}, "b": {"y": 1, "x": 1}})


def test_scores_outside_the_range_are_counted_and_stated(plot_dir):
    """An autoencoder-like score with a long tail: drawn up to a range, the tail in the last
    bin, and the legend says how many."""
    rng = np.random.default_rng(2)
    s = np.r_[rng.exponential(1.0, 990), np.full(10, 40.0)]
    ax = hp.score_distributions({"background": s}, range=(0, 8), bins=16, density=False)
    step = next(p for p in ax.patches if isinstance(p, StepPatch))
    assert step.get_data().values.sum() == pytest.approx(1000)
    assert step.get_data().values[-1] >= 10
    assert (
        ax.get_legend().get_title().get_text() == f"Scores {np.sum(s > 8)} above 8 in the edge bins"
    )
    hp.savefig(ax, plot_dir / "scores_tail.png")
