"""``weight_layout`` against what transformers' ``from_pretrained`` really reads from the same folder: the library is
the reference. The model is a tiny real GPT-2 (2 layers, 16 wide), saved once per module by ``save_pretrained`` both
as one file and sharded."""

from __future__ import annotations

import shutil

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from realunify_arena.adapters.weight_layout import files_read, names_read
from realunify_arena.availability import complete_snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, one_torch_thread):
    """(model A, model B, folder holding A as ``model.safetensors`` and B as ``model.safetensors.index.json`` with
    its shards): as a repository that ships both a single file and a sharded copy."""
    base = tmp_path_factory.mktemp("layout")
    config = GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=64, n_positions=32, eos_token_id=0,
                        bos_token_id=0)
    torch.manual_seed(0)
    a, b = GPT2LMHeadModel(config), GPT2LMHeadModel(config)
    a.save_pretrained(base / "a")
    b.save_pretrained(base / "both", max_shard_size="20KB")
    shutil.copy(base / "a" / "model.safetensors", base / "both")
    return a, b, base / "both"


def _same(m1, m2) -> bool:
    return all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_a_single_file_beside_a_sharded_index_is_what_transformers_reads(saved):
    a, b, folder = saved
    assert len(list(folder.glob("model-*-of-*.safetensors"))) > 1  # really sharded
    loaded = GPT2LMHeadModel.from_pretrained(folder)
    assert _same(loaded, a) and not _same(loaded, b)  # transformers: model.safetensors before its index
    assert files_read(folder, None) == ([folder / "model.safetensors"], "")
    listing = {p.name for p in folder.iterdir()}
    assert names_read(listing, None) == {"model.safetensors"}  # the hub's list of the same repository


def test_shards_missing_beside_a_single_file_leave_the_checkpoint_complete(saved, tmp_path):
    a, _, folder = saved
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    for shard in copy.glob("model-*-of-*.safetensors"):
        shard.unlink()  # a download of model.safetensors alone
    assert _same(GPT2LMHeadModel.from_pretrained(copy), a)  # transformers loads it
    assert complete_snapshot(copy) == (True, "")
