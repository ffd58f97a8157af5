"""Generative serving without a model: text assembly with stop strings, and which files make a generative layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton.errors import UserError
from lepton.serve.config import ServeConfig
from lepton.serve.generation import generative_model, layout_of
from lepton.serve.generation.text import TextStream, held_back

VOCAB = {1: "Hel", 2: "lo", 3: ".", 4: " wor", 5: "ld", 6: "\n\n", 7: "END"}


def decode(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids)


def test_text_arrives_whole_and_in_order_without_stops() -> None:
    s = TextStream(decode)
    parts = [s.push((1,), False)[0], s.push((2, 4), False)[0], s.push((5,), True)[0]]
    assert parts == ["Hel", "lo wor", "ld"]


def test_stop_string_is_cut_and_not_returned() -> None:
    s = TextStream(decode, ("\n\n",))
    assert s.push((1, 2), False) == ("Hello", False)
    assert s.push((3, 6, 4), False) == (".", True)


def test_text_that_may_start_a_stop_string_is_held_back_until_known() -> None:
    s = TextStream(decode, ("lo wor",))
    assert s.push((1,), False) == ("He", False)  # "l" may begin "lo wor"
    assert s.push((2,), False) == ("l", False)  # "lo" may too
    assert s.push((4,), False) == ("", True)  # it did: nothing of it is sent
    t = TextStream(decode, ("lo wor",))
    t.push((1, 2), False)
    assert t.push((3,), False) == ("lo.", False)  # it did not: the held text goes out


def test_a_stop_string_spanning_tokens_is_found() -> None:
    s = TextStream(decode, ("o wo",))
    assert s.push((1, 2, 4), False) == ("Hell", True)


def test_held_back_counts_the_longest_possible_start() -> None:
    assert held_back("abcEN", ("END", "CEX")) == 2
    assert held_back("abc", ("xyz",)) == 0


def test_unfinished_multibyte_character_waits() -> None:
    s = TextStream(lambda ids: "caf" + ("\ufffd" if len(ids) == 1 else "é"))
    assert s.push((1,), False) == ("caf", False)
    assert s.push((2,), True) == ("é", False)


def test_layout_is_told_by_the_files(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    ort = tmp_path / "ort"
    ort.mkdir()
    (ort / "genai_config.json").write_text("{}")
    ov = tmp_path / "ov"
    ov.mkdir()
    (ov / "openvino_model.xml").write_text("")
    (ov / "openvino_tokenizer.xml").write_text("")
    folder = tmp_path / "holds-gguf"
    folder.mkdir()
    (folder / "x.gguf").write_bytes(b"GGUF")
    assert [layout_of(p) for p in (gguf, ort, ov, folder, tmp_path / "nothing")] == [
        "gguf",
        "ort-genai",
        "openvino",
        "gguf",
        None,
    ]
    assert generative_model(folder).model_path == folder / "x.gguf"
    assert generative_model(gguf, "named").name == "named"


def test_a_folder_without_a_generative_model_says_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "openvino_model.xml").write_text("")
    with pytest.raises(UserError, match="openvino_tokenizer.xml"):
        generative_model(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "flag"), [("max_streams", 0, "--max-streams"), ("stream_queue", -1, "--stream-queue")]
)
def test_generation_flags_are_checked_when_the_config_is_built(field: str, value: int, flag: str) -> None:
    with pytest.raises(UserError, match=flag):
        ServeConfig.build(**{field: value})


def test_timeout_bounds_generation_too() -> None:
    assert ServeConfig.build(timeout=7.5).generation().timeout_s == 7.5
    assert ServeConfig.build().generation().timeout_s == ServeConfig().timeout_s
