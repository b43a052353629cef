"""The byte-level tokenizer the real-format builders save (``tests/real_format.byte_level_tokenizer``): every id
names one token, so what ``from_pretrained`` loads back has the special tokens at the ids the real checkpoint
gives them and nothing past the model's embedding table.

Two tokens on one id made the saved ``tokenizer.json`` keep whichever the tokenizers library's hash map yielded
first, which differs per process: the tiny PixArt run then padded with an id past its T5 vocabulary about one run
in two (``IndexError: index out of range in self``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)


@pytest.mark.parametrize("specials", [{0: "<pad>", 1: "</s>"}, {0: "<unk>", 1: "<s>", 2: "</s>", 299: "<|end|>"},
                                      {10: "[IMG]", 2: "</s>", 11: "<pad>"}])
def test_specials_below_256_keep_their_ids_through_save_and_load(tmp_path, specials):
    eos, pad = specials[2] if 2 in specials else specials[1], specials.get(0) if 0 in specials else specials[11]
    built = real_format.byte_level_tokenizer(300, specials, eos=eos, pad=pad)
    vocab = built.get_vocab()
    assert sorted(vocab.values()) == list(range(300))  # one token per id, none missing
    for attempt in range(6):  # the hash map's order is drawn anew per map: several saves see several orders
        folder = tmp_path / str(attempt)
        real_format.byte_level_tokenizer(300, specials, eos=eos, pad=pad).save_pretrained(folder)
        loaded = AutoTokenizer.from_pretrained(folder)
        assert len(loaded) == 300
        assert {i: loaded.convert_ids_to_tokens(i) for i in specials} == specials
        assert (loaded.eos_token_id, loaded.pad_token_id) == (vocab[eos], vocab[pad])
        ids = loaded("a red cube", padding="max_length", max_length=12).input_ids
        assert max(ids) < 300 and loaded.decode(ids, skip_special_tokens=True) == "a red cube"
