"""FeatureSpec: round trips, validation, fixed-order float32 tables without NaN."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest

from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.features import SPEC_VERSION, EventObjects, FeatureSpec, registered_features
from hepml_coffea.selection import make_candidates


def test_json_and_dict_round_trip():
    spec = FeatureSpec(("lep_pt", "n_jets", "m_jj"), pads={"m_jj": -99.0})
    text = spec.to_json()
    data = json.loads(text)
    assert data["version"] == SPEC_VERSION and data["dtype"] == "float32"
    assert [d["name"] for d in data["features"]] == ["lep_pt", "n_jets", "m_jj"]
    assert data["features"][2]["pad"] == -99.0 and data["features"][0]["pad"] == -1.0
    assert FeatureSpec.from_json(text) == spec
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert FeatureSpec.from_config(["lep_pt", "n_jets"]).names == ("lep_pt", "n_jets")


def test_unknown_feature_lists_registered_and_suggests():
    with pytest.raises(
        ConfigError, match=r"Unknown feature 'lep_ptt'\. Did you mean lep_pt"
    ) as exc:
        FeatureSpec(("lep_ptt",))
    for name in registered_features():
        assert name in str(exc.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": ()}, "at least one"),
        ({"names": ("ht", "ht")}, "more than once"),
        ({"names": ("ht",), "pads": {"met": 0.0}}, "not in the spec"),
        ({"names": ("ht",), "pads": {"ht": float("nan")}}, "finite"),
    ],
)
def test_invalid_specs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FeatureSpec(**kwargs)


def test_wrong_version():
    d = FeatureSpec(("ht",)).to_dict() | {"version": 99}
    with pytest.raises(ConfigError, match="version 99"):
        FeatureSpec.from_dict(d)


def test_check_compatible():
    a = FeatureSpec(("ht", "met"))
    a.check_compatible(FeatureSpec.from_json(a.to_json()))
    with pytest.raises(ModelError, match=r"missing \['met'\]"):
        FeatureSpec(("ht",)).check_compatible(a)
    with pytest.raises(ModelError, match="order"):
        FeatureSpec(("met", "ht")).check_compatible(a)


def test_compute_table_order_dtype_and_padding():
    leps = make_candidates(
        {"pt": [[30.0], []], "eta": [[0.1], []], "phi": [[0.0], []], "mass": [[0.0], []]}
    )
    jets = {
        "pt": [[50.0], []],
        "eta": [[1.0], []],
        "phi": [[1.0], []],
        "mass": [[5.0], []],
        "btag": [[0.7], []],
    }
    jets["is_b"] = ak.Array(jets["btag"]) > 0.5
    objs = EventObjects(
        leps, make_candidates(jets), ak.zip({"pt": [20.0, 10.0], "phi": [0.0, 1.0]})
    )
    spec = FeatureSpec(("jet1_pt", "lep_eta", "n_bjets", "dr_bb"), pads={"dr_bb": -7.0})
    x = spec.compute(objs)
    assert x.dtype == np.float32 and x.shape == (2, 4)
    np.testing.assert_allclose(x, [[50.0, 0.1, 1.0, -7.0], [-1.0, -5.0, 0.0, -7.0]], rtol=1e-6)
    assert not np.isnan(x).any()


def test_check_compatible_refuses_repadded_spec_naming_feature_and_pads():
    analysis = FeatureSpec(("ht", "dr_bb"))
    repadded = FeatureSpec(("ht", "dr_bb"), pads={"dr_bb": -2.0})
    assert analysis.names == repadded.names  # the old check (names only) let this through
    with pytest.raises(
        ModelError, match=r"'dr_bb' pads with -2\.0 in model m but -1\.0 in the analysis"
    ):
        analysis.check_compatible(repadded, "model m")
    # the same spec read back from a card is compatible
    analysis.check_compatible(FeatureSpec.from_dict(analysis.to_dict()), "model m")


def test_check_compatible_names_swapped_position():
    with pytest.raises(ModelError, match=r"feature 1 is 'ht' in model m but 'met' in the analysis"):
        FeatureSpec(("n_jets", "met", "ht")).check_compatible(
            FeatureSpec(("n_jets", "ht", "met")), "model m"
        )


def test_check_compatible_message_is_one_line():
    with pytest.raises(ModelError) as err:
        FeatureSpec(("ht",)).check_compatible(FeatureSpec(("ht",), pads={"ht": -3.0}))
    assert "\n" not in str(err.value)


def test_other_dtype_refused():
    d = FeatureSpec(("ht",)).to_dict() | {"dtype": "float64"}
    with pytest.raises(ConfigError, match="dtype 'float64'"):
        FeatureSpec.from_dict(d)
