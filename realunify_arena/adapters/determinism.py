"""Attention that gives the same numbers on every call, so that a seed repeats an image or an answer.

On CUDA, PyTorch may run ``scaled_dot_product_attention`` with cuDNN's fused kernel, and cuDNN's decoding
kernels (a split over the key/value length joined by a separate reduction) do not give bit-identical
results from call to call. Measured on an H200 (torch 2.11, bf16, ``bench/janus_determinism.py``):
teacher-forced Janus image logits called three times with the same tokens differed by one bf16 ulp from
step 36–134 on, compiled and eager alike. With sampling, a one-ulp change flips a token now and then, and
every later token follows it: the same seed gave a different image. PyTorch documents the FLASH,
EFFICIENT and MATH forwards as deterministic and leaves cuDNN's out of its deterministic mode
(``docs/source/notes/randomness.rst``, "CUDA Scaled Dot Product Attention"), so cuDNN's backend is left
out here. On CPU the list changes nothing (CPU attention is flash or math).

PyTorch's backend switches are process-wide, not per thread: a context that turns cuDNN off and restores the
caller's choice on exit (``sdpa_kernel``) lets one thread's exit turn it back on under another thread's running
call. So in-process models turn it off for good (``leave_out_cudnn_attention``), once per call, and nothing
here turns it back on; ``reproducible_attention`` remains for compiled code, whose graph records the choice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

REPRODUCIBLE_ATTENTION = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)


def reproducible_attention() -> AbstractContextManager:
    """Within it, ``scaled_dot_product_attention`` picks among ``REPRODUCIBLE_ATTENTION`` only (in PyTorch's
    usual order of preference). Inside a ``torch.compile``d function it is traced into the graph, so the
    compiled graph (and its cache entry) carries the choice."""
    return sdpa_kernel(list(REPRODUCIBLE_ATTENTION))


def leave_out_cudnn_attention() -> None:
    """Turn cuDNN's ``scaled_dot_product_attention`` backend off for the whole process, for good (the others
    stay as they are). Called at the start of every in-process model call (``LocalAdapter``) and fast Janus
    decode; cheap and idempotent, and safe with calls running on other threads, since nothing turns it back on."""
    if torch.backends.cuda.cudnn_sdp_enabled():
        torch.backends.cuda.enable_cudnn_sdp(False)
