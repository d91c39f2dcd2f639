"""save/load round trips, model card content, and refusal of tampered or pickled models."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators import BDTClassifier, load, read_card

SPEC = {"features": [{"name": "lead_jet_pt", "unit": "GeV"}], "version": 1}


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=500, n_features=4, random_state=3)
    return BDTClassifier(n_estimators=8, random_state=0).fit(X, y), X


def test_round_trip_and_card(fitted, tmp_path):
    est, X = fitted
    folder = est.save(tmp_path / "m", feature_spec=SPEC)
    back = load(folder)
    assert type(back) is BDTClassifier
    assert np.array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.get_params() == est.get_params()
    card = json.loads((folder / "model_card.json").read_text())
    assert card["estimator"] == "BDTClassifier"
    assert card["feature_spec"] == SPEC
    assert card["classes"]["values"] == [0, 1]
    assert card["versions"]["xgboost"] == __import__("xgboost").__version__
    import hashlib

    digest = hashlib.sha256((folder / "booster.ubj").read_bytes()).hexdigest()
    assert card["files"] == {"booster.ubj": digest}
    assert BDTClassifier.load(folder).n_features_in_ == 4


def test_tampered_file_is_refused(fitted, tmp_path):
    est, _ = fitted
    folder = est.save(tmp_path / "m")
    data = bytearray((folder / "booster.ubj").read_bytes())
    data[-10] ^= 0x01
    (folder / "booster.ubj").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"SHA-256 of .*booster.ubj.*modified after saving"):
        load(folder)


def test_renamed_pickle_is_refused(fitted, tmp_path):
    est, _ = fitted
    folder = est.save(tmp_path / "m")
    (folder / "booster.ubj").write_bytes(pickle.dumps(est))
    with pytest.raises(ModelError, match="is a Python pickle"):
        load(folder)
    # a pickle renamed to look like a whole model
    fake = tmp_path / "model.keras"
    fake.write_bytes(pickle.dumps(est))
    with pytest.raises(ModelError, match="is a Python pickle"):
        load(fake)
    (folder / "model_card.json").write_bytes(pickle.dumps({"estimator": "BDTClassifier"}))
    with pytest.raises(ModelError, match="is a Python pickle"):
        load(folder)


def test_unknown_or_wrong_class_is_refused(fitted, tmp_path):
    est, _ = fitted
    folder = est.save(tmp_path / "m")
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "estimator": "os.system"}))
    with pytest.raises(ModelError, match=r"names estimator 'os\.system'"):
        read_card(folder)
    card_path.write_text(json.dumps(card))
    from hepml_coffea.estimators import KFoldEventClassifier

    with pytest.raises(ModelError, match="holds a BDTClassifier, not a KFoldEventClassifier"):
        KFoldEventClassifier.load(folder)
    with pytest.raises(ModelError, match=r"holds no model_card\.json"):
        load(tmp_path)
