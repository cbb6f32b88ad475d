"""Text inputs decoded as UTF-8 with one clear line, and config values checked by type."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fme.core.errors import ConfigError, DataError
from fme.core.inputs import check_like, read_csv, read_text, read_yaml, typed_fields


def test_read_text_accepts_a_bom_and_refuses_latin1_and_binary(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffcasme2/sub01/EP01_01\n".encode())
    assert read_text(tmp_path / "bom.txt") == "casme2/sub01/EP01_01\n"
    (tmp_path / "latin1.md").write_bytes("Consentement éclairé\n".encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read_text(tmp_path / "latin1.md", "consent text")
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'latin1.md'}: the consent text is not UTF-8")
    assert "0xe9 on line 1" in text and "UTF-8" in text
    (tmp_path / "bin.md").write_bytes(b"\xf8\x00\x01\x02")
    with pytest.raises(DataError, match="binary"):
        read_text(tmp_path / "bin.md")
    with pytest.raises(DataError, match="folder"):
        read_text(tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_text(tmp_path / "nope.txt")


def test_read_yaml_and_csv(tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"\xef\xbb\xbftrain: {lr: 1e-3}\n")
    assert read_yaml(tmp_path / "a.yaml") == {"train": {"lr": "1e-3"}}
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {}
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(tmp_path / "list.yaml")
    (tmp_path / "tab.yaml").write_text("a:\n\t- 1\n")
    with pytest.raises(ConfigError, match="cannot read YAML"):
        read_yaml(tmp_path / "tab.yaml")
    (tmp_path / "v.csv").write_bytes("\ufeffa,b\n1,é\n".encode())
    frame = read_csv(tmp_path / "v.csv")
    assert list(frame.columns) == ["a", "b"] and frame.loc[0, "b"] == "é"
    (tmp_path / "l.csv").write_bytes("a,b\n1,é\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_csv(tmp_path / "l.csv")


@dataclass
class Section:
    lr: float = 2e-4
    iterations: int = 10
    betas: tuple[float, float] = (0.5, 0.999)
    milestones: tuple[float, ...] = (0.6,)
    augment: bool = True


def test_typed_fields_names_the_key():
    got = typed_fields(Section, {"lr": "1e-3", "iterations": 20.0, "betas": [0.9, 0.99]}, "train")
    assert got == {"lr": 1e-3, "iterations": 20, "betas": (0.9, 0.99)}
    cases = {
        "lr": ("fast", "train.lr: expected a number, got 'fast'"),
        "iterations": ("ten", "train.iterations: expected a whole number"),
        "betas": (0.9, "train.betas: expected a list of 2 numbers, got 0.9"),
        "milestones": (["half"], "train.milestones[0]: expected a number"),
        "augment": ("yes", "train.augment: expected true or false"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ConfigError) as caught:
            typed_fields(Section, {key: value}, "train", "cfg.yaml")
        assert str(caught.value).startswith(f"cfg.yaml: {message}"), str(caught.value)
    with pytest.raises(ConfigError, match="unknown train key"):
        typed_fields(Section, {"lrr": 1}, "train")
    with pytest.raises(ConfigError, match="lr: expected a number, got nan"):
        typed_fields(Section, {"lr": float("nan")}, "train")


def test_check_like_a_model_section():
    ref = {"kp": {"num_kp": 10, "temperature": 0.1, "flag": True, "sub": {"x": 1}}, "free": None}
    assert check_like({"kp": {"num_kp": "12"}}, ref, "model") == {"kp": {"num_kp": 12}}
    bad = [
        ({"kp": {"num_kp": "ten"}}, "model.kp.num_kp: expected a whole number, got 'ten'"),
        ({"kp": {"num_kp": 0}}, "model.kp.num_kp: must be a whole number >= 1, got 0"),
        ({"kp": {"temperature": -1.0}}, "model.kp.temperature: must not be negative"),
        ({"kp": {"sub": [1, 2]}}, "model.kp.sub: expected a mapping"),
        ({"kp": {"flag": 1}}, "model.kp.flag: expected true or false"),
    ]
    for value, message in bad:
        with pytest.raises(ConfigError) as caught:
            check_like(value, ref, "model")
        assert str(caught.value).startswith(message), str(caught.value)
    assert check_like({"free": {"anything": [1]}}, ref, "model") == {"free": {"anything": [1]}}
