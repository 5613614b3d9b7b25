"""Atomic writes: an interruption leaves the previous file or directory as it was."""

import pytest

from trigger.atomic import atomic_dir, remove_stale, write_text


def test_atomic_dir_replaces_on_success(tmp_path):
    final = tmp_path / "proj"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with atomic_dir(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]


def test_atomic_dir_keeps_previous_on_interrupt(tmp_path):
    final = tmp_path / "proj"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(final) as tmp:
            (tmp / "half.txt").write_text("half")
            raise KeyboardInterrupt
    assert (final / "old.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]


def test_write_text_replaces_whole_file(tmp_path):
    path = tmp_path / "a.json"
    write_text(path, "one")
    write_text(path, "two")
    assert path.read_text() == "two"
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)


def test_remove_stale(tmp_path):
    (tmp_path / ".proj.abc.tmp").mkdir()
    (tmp_path / ".x.json.1.tmp").write_text("")
    (tmp_path / "keep").mkdir()
    remove_stale(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]


def test_json_is_strict_and_keeps_key_order(tmp_path):
    """metrics.json and friends: no NaN/Infinity (not JSON), keys in the order they were built."""
    import json

    from trigger.atomic import write_json

    write_json(tmp_path / "m.json", {"b": float("nan"), "a": [1.5, float("inf")], "c": {"z": 1, "y": -float("inf")}})
    text = (tmp_path / "m.json").read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {"b": None, "a": [1.5, None], "c": {"z": 1, "y": None}}
    assert list(json.loads(text)) == ["b", "a", "c"] and text.endswith("}\n")
