"""Model folders: names that escape, cards that turn checks off, atomic save, extra files,
one-line errors."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification

from hepml_coffea.errors import ModelError
from hepml_coffea.estimators import (
    BDTClassifier,
    KFoldEventClassifier,
    load,
    load_extra,
    read_card,
)
from hepml_coffea.estimators import _card as card_module
from hepml_coffea.estimators._card import check_ubjson, sha256


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=400, n_features=4, random_state=5)
    return X, y


@pytest.fixture(scope="module")
def models(data):
    X, y = data
    a = BDTClassifier(n_estimators=5, random_state=0).fit(X, y)
    b = BDTClassifier(n_estimators=9, max_depth=2, random_state=1).fit(X, y)
    return a, b


def _card(folder):
    return json.loads((folder / "model_card.json").read_text())


def _write_card(folder, card):
    (folder / "model_card.json").write_text(json.dumps(card))


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# -- names that escape the folder -------------------------------------------------------------
@pytest.mark.parametrize("name", ["../outside.ubj", "/etc/passwd", "a/../../outside.ubj", "./x"])
def test_card_file_names_must_stay_inside(models, tmp_path, name):
    a, _ = models
    folder = a.save(tmp_path / "m")
    outside = tmp_path / "outside.ubj"
    outside.write_bytes(b"not read")
    card = _card(folder)
    card["files"][name] = sha256(outside)
    _write_card(folder, card)
    with pytest.raises(ModelError, match="not a path inside the model folder") as info:
        load(folder)
    assert repr(name) in _one_line(info)


def test_symlink_escaping_the_folder_is_refused(models, tmp_path):
    a, _ = models
    folder = a.save(tmp_path / "m")
    outside = tmp_path / "elsewhere.ubj"
    os.replace(folder / "booster.ubj", outside)
    (folder / "booster.ubj").symlink_to(outside)
    with pytest.raises(ModelError, match=r"'booster.ubj', which is not a path inside"):
        load(folder)


def test_kfold_subfolders_must_stay_inside(data, tmp_path):
    X, y = data
    kf = KFoldEventClassifier(BDTClassifier(n_estimators=3, random_state=0), n_splits=2)
    folder = kf.fit(X, y, event=np.arange(len(y))).save(tmp_path / "kf")
    assert load(folder).n_splits == 2
    # a fold placed outside, with a card that points there and hashes that match
    os.replace(folder / "fold_1", tmp_path / "evil_fold")
    card = _card(folder)
    card["folds"]["subfolders"][1] = "../evil_fold"
    card["files"] = {k: v for k, v in card["files"].items() if not k.startswith("fold_1/")}
    _write_card(folder, card)
    with pytest.raises(ModelError, match=r"fold subfolder '\.\./evil_fold'"):
        load(folder)


# -- cards that would turn the checks off -----------------------------------------------------
@pytest.mark.parametrize("files", [{}, None, "DELETE"])
def test_card_without_files_is_refused(models, tmp_path, files):
    a, _ = models
    folder = a.save(tmp_path / "m")
    card = _card(folder)
    if files == "DELETE":
        del card["files"]
    else:
        card["files"] = files
    _write_card(folder, card)
    with pytest.raises(ModelError, match="lists no model files") as info:
        load(folder)
    _one_line(info)


def test_card_must_list_what_the_loader_reads(models, tmp_path):
    a, _ = models
    folder = a.save(tmp_path / "m")
    card = _card(folder)
    (folder / "notes.txt").write_text("hi")
    card["files"] = {"notes.txt": sha256(folder / "notes.txt")}  # booster.ubj not listed
    _write_card(folder, card)
    with pytest.raises(ModelError, match=r"reads \['booster.ubj'\], but the card does not list"):
        load(folder)


def test_card_naming_the_wrong_estimator_is_one_line(models, tmp_path):
    a, _ = models
    folder = a.save(tmp_path / "m")
    card = _card(folder)
    card["estimator"] = "DNNClassifier"
    _write_card(folder, card)
    with pytest.raises(ModelError, match=r"params do not fit DNNClassifier .*wrong estimator"):
        load(folder)
    # params that do fit the other class: its loader's files are not in the card
    card["estimator"] = "BDTRegressor"
    card["params"]["__dict__"] = [
        kv for kv in card["params"]["__dict__"] if kv[0] not in ("class_weight",)
    ]
    card["files"] = {"booster.ubj": card["files"]["booster.ubj"]}
    _write_card(folder, card)
    assert type(load(folder)).__name__ == "BDTRegressor"  # same file kind: it does load
    card["estimator"] = "AutoencoderAnomalyDetector"
    card["params"] = {"__dict__": []}
    _write_card(folder, card)
    with pytest.raises(ModelError, match=r"loader reads \['model.keras', 'standardisation.npz'\]"):
        load(folder)


def test_params_of_another_version_are_one_line(models, tmp_path):
    a, _ = models
    folder = a.save(tmp_path / "m")
    card = _card(folder)
    card["params"]["__dict__"].append(["normalize_weights", True])  # removed parameter
    _write_card(folder, card)
    with pytest.raises(ModelError, match="saved by another hepml-coffea version") as info:
        load(folder)
    assert "normalize_weights" in _one_line(info)


def test_unreadable_booster_is_one_line_naming_it(models, tmp_path):
    """A booster that passes the hash (re-hashed after the damage) but that xgboost cannot
    read: xgboost's message is KB long, with a C++ backtrace."""
    a, _ = models
    folder = a.save(tmp_path / "m")
    data = (folder / "booster.ubj").read_bytes()
    (folder / "booster.ubj").write_bytes(data[: len(data) // 2])
    card = _card(folder)
    card["files"]["booster.ubj"] = sha256(folder / "booster.ubj")
    _write_card(folder, card)
    with pytest.raises(ModelError, match="not a readable xgboost model") as info:
        load(folder)
    text = _one_line(info)
    assert "booster.ubj" in text
    assert len(text) < 500


def test_ubjson_check_accepts_every_complete_booster_and_no_prefix(models):
    """The structure walk accepts xgboost's own output and refuses every truncation of it
    (xgboost's parser asked for terabytes on some of them and the process was killed)."""
    a, _ = models
    data = bytes(a.booster_.save_raw(raw_format="ubj"))
    check_ubjson(data)
    xgb.Booster().load_model(bytearray(data))
    for cut in range(0, len(data), max(1, len(data) // 400)):
        with pytest.raises(ValueError):
            check_ubjson(data[:cut])
    with pytest.raises(ValueError, match="trailing bytes"):
        check_ubjson(data + b"}")


# -- atomic save ------------------------------------------------------------------------------
def test_failed_save_leaves_the_old_model(models, data, tmp_path, monkeypatch):
    X, _ = data
    a, b = models
    folder = a.save(tmp_path / "m")
    before = load(folder).predict_proba(X)

    def full_disk(path, data):
        with open(path, "wb") as f:
            f.write(data[:5])  # a few bytes, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(card_module, "write_file", full_disk)
    with pytest.raises(ModelError, match="No space left on device") as info:
        b.save(folder)
    text = _one_line(info)
    assert "booster.ubj" in text and "was not changed" in text
    monkeypatch.undo()
    assert np.array_equal(load(folder).predict_proba(X), before)
    assert _leftovers(tmp_path) == []  # no temporary folder left behind


def test_truncated_write_is_caught_by_loading_back(models, data, tmp_path, monkeypatch):
    """A booster truncated without an error (e.g. a full disk on a network file system): its
    hash matches what was written, but it does not load, so the save fails."""
    X, _ = data
    a, b = models
    folder = a.save(tmp_path / "m")

    def truncated(path, data):
        path.write_bytes(data[: len(data) // 3])

    monkeypatch.setattr(card_module, "write_file", truncated)
    with pytest.raises(ModelError, match="nothing was changed") as info:
        b.save(folder)
    _one_line(info)
    monkeypatch.undo()
    assert np.array_equal(load(folder).predict_proba(X), a.predict_proba(X))
    assert _leftovers(tmp_path) == []


def test_save_replaces_the_whole_folder(data, tmp_path):
    X, y = data
    event = np.arange(len(y))
    three = KFoldEventClassifier(BDTClassifier(n_estimators=3), n_splits=3).fit(X, y, event=event)
    two = KFoldEventClassifier(BDTClassifier(n_estimators=3), n_splits=2).fit(X, y, event=event)
    folder = three.save(tmp_path / "kf")
    assert (folder / "fold_2").is_dir()
    two.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["fold_0", "fold_1", "model_card.json"]
    assert load(folder).n_splits == 2
    assert _leftovers(tmp_path) == []


def test_folder_with_other_files_is_not_replaced(models, tmp_path):
    a, _ = models
    folder = tmp_path / "analysis"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(ModelError, match=r"holds files but no model_card\.json") as info:
        a.save(folder)
    _one_line(info)
    assert (folder / "thesis.tex").read_text() == "precious"


# -- extra files covered by the card ----------------------------------------------------------
def test_extra_files_are_hashed_and_read_back(models, tmp_path):
    a, _ = models
    info = {"score_cut": 0.73, "auc_test": 0.91}
    folder = a.save(tmp_path / "m", extra_files={"training.json": info, "notes.txt": b"v1"})
    assert json.loads(load_extra(folder, "training.json")) == info
    assert load_extra(folder, "notes.txt") == b"v1"
    card = _card(folder)
    assert set(card["files"]) == {"booster.ubj", "training.json", "notes.txt"}
    # edited by hand: refused
    (folder / "training.json").write_text(json.dumps({**info, "score_cut": 0.1}))
    with pytest.raises(ModelError, match=r"SHA-256 of .*training.json"):
        load_extra(folder, "training.json")


def test_extra_file_not_in_card_is_refused(models, tmp_path):
    a, _ = models
    folder = a.save(tmp_path / "m")
    (folder / "training.json").write_text("{}")  # e.g. left by an older training
    with pytest.raises(ModelError, match=r"does not list 'training\.json'"):
        load_extra(folder, "training.json")
    # retraining replaces the folder: the stale file is gone
    a.save(folder)
    assert not (folder / "training.json").exists()


@pytest.mark.parametrize("name", ["../x.json", "sub/x.json", "model_card.json", "booster.ubj"])
def test_bad_extra_file_names(models, tmp_path, name):
    a, _ = models
    with pytest.raises(ModelError, match=r"extra file"):
        a.save(tmp_path / "m", extra_files={name: b"x"})
    assert not (tmp_path / "m").exists()
    assert _leftovers(tmp_path) == []


def test_extra_json_must_be_strict(models, tmp_path):
    a, _ = models
    with pytest.raises(ModelError, match=r"'training\.json' is not strict JSON"):
        a.save(tmp_path / "m", extra_files={"training.json": {"auc": float("nan")}})


def test_read_card_checks_extra_files_too(models, tmp_path):
    a, _ = models
    folder = a.save(tmp_path / "m", extra_files={"training.json": {"cut": 0.5}})
    (folder / "training.json").unlink()
    with pytest.raises(ModelError, match=r"training.json named in model_card.json is missing"):
        read_card(folder)


# -- optional signature -----------------------------------------------------------------------
def test_hmac_key_refuses_a_rehashed_file(models, tmp_path, monkeypatch):
    """Without a key the hashes catch accidents only: a file changed *and re-hashed* loads.
    With HEPML_COFFEA_MODEL_KEY set, that card's signature no longer matches."""
    a, b = models
    monkeypatch.setenv("HEPML_COFFEA_MODEL_KEY", "s3cret")
    folder = a.save(tmp_path / "m")
    assert "hmac" in _card(folder)
    load(folder)  # signed and checked
    # swap in another booster and re-hash it, as a deliberate edit would
    (folder / "booster.ubj").write_bytes(bytes(b.booster_.save_raw(raw_format="ubj")))
    card = _card(folder)
    card["files"]["booster.ubj"] = sha256(folder / "booster.ubj")
    card["state"]["best_iteration"] = b.best_iteration_
    _write_card(folder, card)
    with pytest.raises(ModelError, match=r"signature of .* does not match") as info:
        load(folder)
    _one_line(info)
    monkeypatch.delenv("HEPML_COFFEA_MODEL_KEY")
    assert load(folder).n_estimators_ == b.n_estimators_  # the limit of plain hashes
    # another key, or a card saved without a key
    monkeypatch.setenv("HEPML_COFFEA_MODEL_KEY", "other")
    with pytest.raises(ModelError, match="does not match"):
        load(folder)
    monkeypatch.delenv("HEPML_COFFEA_MODEL_KEY")
    unsigned = a.save(tmp_path / "u")
    monkeypatch.setenv("HEPML_COFFEA_MODEL_KEY", "s3cret")
    with pytest.raises(ModelError, match="carries no signature"):
        load(unsigned)


def test_hmac_covers_kfold_folds(data, tmp_path, monkeypatch):
    X, y = data
    monkeypatch.setenv("HEPML_COFFEA_MODEL_KEY", "k")
    kf = KFoldEventClassifier(BDTClassifier(n_estimators=3), n_splits=2)
    folder = kf.fit(X, y, event=np.arange(len(y))).save(tmp_path / "kf")
    assert np.array_equal(load(folder).predict_proba(X), kf.predict_proba(X))
    sub = folder / "fold_0" / "model_card.json"
    card = json.loads(sub.read_text())
    card["created"] = "2000-01-01"
    sub.write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"SHA-256 of .*fold_0/model_card\.json"):
        load(folder)
    outer = _card(folder)  # re-hashed in the outer card too: the outer signature breaks
    outer["files"]["fold_0/model_card.json"] = sha256(sub)
    _write_card(folder, outer)
    with pytest.raises(ModelError, match=r"signature of .*kf/model_card\.json does not match"):
        load(folder)
