"""``bench/janus_attention.py --size tiny`` on CPU: the smoke run the README's bench list promises.

Before, the teacher-forced tokens were drawn as (1, 576), Janus-Pro's image-token count, whatever the size:
every configuration of the tiny model (16 image tokens) ended in ``ValueError: forced tokens must have shape
(1, 16), got (1, 576)`` and the script still exited 0; and the default device was ``cuda`` even where there is
none (a traceback from the driver check). The forced tokens now come from the model's own
``num_image_tokens`` (``janus_generation.forced_tokens``, shared with ``bench/janus_determinism.py``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tiny_attention_bench_measures_every_backend_set_on_cpu(tmp_path):
    from realunify_arena.adapters import janus_fast

    chosen = janus_fast.reproducible_attention
    out = tmp_path / "attention.json"
    assert _load("janus_attention").main(["--size", "tiny", "--device", "cpu", "--repeats", "1",
                                          "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and len(report["results"]) == 3
    for row in report["results"]:
        assert "error" not in row, row
        assert row["logits_bitwise_equal"] == [True], row  # eager CPU attention repeats bit for bit
        # bfloat16 keeps 8 significant bits (relative rounding 2**-8 ~ 0.004 per value): the teacher-forced
        # logits stay within a few roundings of the float32 forward of the same weights
        assert 0 < row["error_vs_float32_median"] < 0.05, row
    # each set was chosen by replacing the module's choice: set back, or every later fast Janus in this process
    # ran the bench's last set (test_reproducible_attention failed after this test)
    assert janus_fast.reproducible_attention is chosen


def test_forced_tokens_follow_the_models_image_token_count():
    import torch

    generation = _load("janus_generation")
    model = generation.random_janus("tiny", "cpu", torch.float32)
    forced = generation.forced_tokens(model, 2, "cpu")
    # the tiny card's Janus config: 16 image tokens (a 4x4 grid), codebook of vq_config.num_embeddings
    assert forced.shape == (2, model.model.vision_model.config.num_image_tokens) == (2, 16)
    assert forced.dtype == torch.int64
    assert 0 <= int(forced.min()) and int(forced.max()) < model.config.vq_config.num_embeddings


def test_a_bench_whose_every_configuration_failed_exits_1(tmp_path, monkeypatch, capsys):
    """Before, every configuration could end in an error row and the script still exited 0: a CI step or
    shell loop read a run that measured nothing as a success. cuDNN attention alone has no CPU kernel, so
    on CPU each configuration really fails ("No available kernel"), with no stand-in."""
    from torch.nn.attention import SDPBackend

    bench = _load("janus_attention")
    monkeypatch.setattr(bench, "backend_sets", lambda: {"cudnn only": [SDPBackend.CUDNN_ATTENTION],
                                                        "cudnn again": [SDPBackend.CUDNN_ATTENTION]})
    out = tmp_path / "attention.json"
    assert bench.main(["--size", "tiny", "--device", "cpu", "--repeats", "1", "--json", str(out)]) == 1
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 2 and all("error" in row for row in rows)
    assert "every configuration failed (2)" in capsys.readouterr().err


def test_the_determinism_bench_says_it_needs_cuda_instead_of_a_traceback():
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        import pytest

        pytest.skip("this checks the CPU-only refusal")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "janus_determinism.py"), "--size", "tiny"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "needs a CUDA device" in done.stderr and "Traceback" not in done.stderr
