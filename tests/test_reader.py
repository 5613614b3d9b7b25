"""The reader on user layouts: NanoAOD-style (Jet_pt[nJet]) and tutorial-style (Jet_Px + NJet)."""

import awkward as ak
import numpy as np
import pytest
import uproot

from trigger.data.reader import feature_names, read_columns
from trigger.rootio import write_tree
from trigger.errors import TriggerError
from trigger.spec import CollectionSpec

JET_PT = [[30.0, 80.0, 50.0], [], [20.0]]
JET_ETA = [[0.3, -1.0, 2.0], [], [0.5]]


@pytest.fixture
def nano(tmp_path):
    path = tmp_path / "nano.root"
    jets = ak.zip({"pt": ak.Array(JET_PT), "eta": ak.Array(JET_ETA), "btag": ak.Array([[1, 0, 1], [], [0]])})
    write_tree(path, "Events", {"Jet": jets, "MET_pt": np.array([10.0, 20.0, 30.0]), "MET_phi": np.array([0.0, 1.0, -1.0])})
    return path


@pytest.fixture
def tutorial(tmp_path):
    """Fixed-size arrays Jet_Px[4] with a separate count NJet, as in the classic ROOT tutorials."""
    path = tmp_path / "tutorial.root"
    px = np.zeros((3, 4))
    py = np.zeros((3, 4))
    for i, (pts, etas) in enumerate(zip(JET_PT, JET_ETA)):
        for j, pt in enumerate(pts):
            px[i, j], py[i, j] = pt * np.cos(0.7), pt * np.sin(0.7)
    px[1, 0] = 999.0  # garbage beyond NJet must be ignored
    with uproot.recreate(path) as f:
        f["tree"] = {"NJet": np.array([3, 0, 1], np.int32), "Jet_Px": px, "Jet_Py": py}
    return path


def jet_collection(**kw) -> CollectionSpec:
    return CollectionSpec(**({"fields": {"pt": "Jet_pt", "eta": "Jet_eta"}, "count": 2, "sort_by": "pt"} | kw))


def test_nanoaod_collection_sorted_padded_truncated(nano):
    mapping = {"met": "MET_pt", "jet": jet_collection()}
    cols = read_columns([nano], "Events", mapping)
    assert list(cols) == feature_names(mapping) == ["met", "jet0_pt", "jet0_eta", "jet1_pt", "jet1_eta"]
    np.testing.assert_array_equal(cols["jet0_pt"], [80, 0, 20])  # sorted by pt, padded with 0
    np.testing.assert_array_equal(cols["jet0_eta"], [-1.0, 0, 0.5])  # fields follow the sort
    np.testing.assert_array_equal(cols["jet1_pt"], [50, 0, 0])  # the third jet is truncated
    np.testing.assert_array_equal(cols["met"], [10, 20, 30])


def test_collection_expressions_and_pad_value(nano):
    mapping = {"jet": jet_collection(fields={"pt": "Jet_pt", "px": "Jet_pt * cos(MET_phi * 0)", "b": "Jet_btag"}, count=1, pad=-1)}
    cols = read_columns([nano], "Events", mapping)
    np.testing.assert_array_equal(cols["jet0_px"], [80, -1, 20])
    np.testing.assert_array_equal(cols["jet0_b"], [0, -1, 0])


def test_tutorial_layout_with_counter_and_derived_pt(tutorial):
    mapping = {"jet": CollectionSpec(fields={"pt": "hypot(Jet_Px, Jet_Py)"}, count=2, sort_by="pt", counter="NJet")}
    cols = read_columns([tutorial], "tree", mapping)
    np.testing.assert_allclose(cols["jet0_pt"], [80, 0, 20])
    np.testing.assert_allclose(cols["jet1_pt"], [50, 0, 0])


def test_missing_branch_names_file_tree_branch(nano):
    with pytest.raises(TriggerError, match=r"nano\.root: tree 'Events' has no branch 'Jet_mass' \(needed by data\.features\.jet\)"):
        read_columns([nano], "Events", {"jet": jet_collection(fields={"m": "Jet_mass"}, sort_by=None)})


def test_jagged_branch_where_flat_expected(nano):
    with pytest.raises(TriggerError, match=r"branch 'Jet_pt' is jagged .* data\.features\.lead expects one value per event"):
        read_columns([nano], "Events", {"lead": "Jet_pt"})


def test_flat_branch_where_collection_expected(nano):
    with pytest.raises(TriggerError, match=r"data\.features\.jet\.fields\.pt is one value per event"):
        read_columns([nano], "Events", {"jet": jet_collection(fields={"pt": "MET_pt"}, sort_by=None)})


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "strings.root"
    with uproot.recreate(path) as f:
        f.mktree("t", {"name": "var * int8", "x": np.float32})  # a char array, not a number per event
        f["t"].extend({"name": ak.Array([[104, 105], [111]]), "x": np.array([1.0, 2.0], np.float32)})
    with pytest.raises(TriggerError, match=r"strings\.root: tree 't' branch 'name' .*jagged"):
        read_columns([path], "t", {"name": "name"})
    nested = tmp_path / "nested.root"
    with uproot.recreate(nested) as f:
        f["t"] = {"hits": np.zeros((2, 3, 3), np.float32)}  # a 3x3 matrix per event
    with pytest.raises(TriggerError, match=r"nested\.root: tree 't' branch 'hits' has type .* \(wrong type\)"):
        read_columns([nested], "t", {"h": CollectionSpec(fields={"e": "hits"}, count=1)})


def test_empty_tree(tmp_path):
    path = tmp_path / "empty.root"
    write_tree(path, "t", {"x": np.zeros(0)})
    with pytest.raises(TriggerError, match=r"empty\.root: tree 't' has no entries"):
        read_columns([path], "t", {"x": "x"})
