"""The generic ROOT reader: mapping, expressions, and one clear error per kind of bad input."""

import numpy as np
import pytest

from trigger.data.reader import read_columns
from trigger.rootio import read_metadata, write_tree
from trigger.errors import TriggerError


@pytest.fixture
def root_file(tmp_path):
    path = tmp_path / "in.root"
    write_tree(path, "t", {"px": np.array([3.0, 6.0]), "py": np.array([4.0, 8.0]), "n": np.array([1, 2], np.int32)}, {"k": 1})
    return path


def test_branches_and_expressions(root_file):
    out = read_columns([root_file, root_file], "t", {"pt": "hypot(px, py)", "twice": "2*n - 1", "px": "px"})
    np.testing.assert_allclose(out["pt"], [5, 10, 5, 10])
    np.testing.assert_allclose(out["twice"], [1, 3, 1, 3])
    assert read_metadata(root_file) == {"k": 1}


def test_missing_file(tmp_path):
    with pytest.raises(TriggerError, match=r"nope\.root: ROOT file not found"):
        read_columns([tmp_path / "nope.root"], "t", {"a": "a"})


def test_corrupt_file(tmp_path):
    bad = tmp_path / "corrupt.root"
    bad.write_bytes(b"root\x00" + b"\x13" * 300)
    with pytest.raises(TriggerError, match=r"corrupt\.root: not a readable ROOT file"):
        read_columns([bad], "t", {"a": "a"})


def test_truncated_file(root_file, tmp_path):
    cut = tmp_path / "truncated.root"
    cut.write_bytes(root_file.read_bytes()[:600])
    with pytest.raises(TriggerError, match=r"truncated\.root"):
        read_columns([cut], "t", {"px": "px"})


def test_missing_tree(root_file):
    with pytest.raises(TriggerError, match=r"no tree 'jets' \(trees here: t\)"):
        read_columns([root_file], "jets", {"px": "px"})


def test_missing_branch_names_branch_and_key(root_file):
    with pytest.raises(TriggerError, match=r"no branch 'pz' \(needed by data\.features\.p\)"):
        read_columns([root_file], "t", {"p": "hypot(px, pz)"})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_rejected(tmp_path, value):
    path = tmp_path / "nan.root"
    write_tree(path, "t", {"a": np.array([1.0, value, 2.0])})
    with pytest.raises(TriggerError, match=r"nan.root: data\.features\.a: 1 NaN/Inf values \(first at entry 1 of tree .t.\)"):
        read_columns([path], "t", {"a": "a"})


def test_expression_producing_nan_rejected(root_file):
    with pytest.raises(TriggerError, match="NaN/Inf"):
        read_columns([root_file], "t", {"bad": "log(px - 3)"})


def test_unsafe_expression_rejected(root_file):
    with pytest.raises(TriggerError, match="unknown function"):
        read_columns([root_file], "t", {"x": "__import__('os')"})
    with pytest.raises(TriggerError, match="unsupported syntax"):
        read_columns([root_file], "t", {"x": "px.real"})
