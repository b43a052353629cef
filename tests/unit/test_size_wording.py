"""How messages say a byte count (``sizes``): exact bytes where a client must keep to a limit, MiB (2**20 bytes)
to one decimal beside them from 1 MiB up, never a long fraction. Before, the limits said ``{mib:g}``:
``"90527061 bytes (86.3333 MiB)"`` in serve-openai's 413 and ``"1000 bytes (0.000953674 MiB)"`` in the app's.
The expected texts are worked by hand from the byte counts."""

from __future__ import annotations

import pytest

from realunify_arena.body_limit import too_large_message
from realunify_arena.sizes import exact_size_text, size_text
from realunify_arena.upload_parts import over_bytes


@pytest.mark.parametrize("size, short, exact", [
    (0, "0 bytes", "0 bytes"),
    (1000, "1000 bytes", "1000 bytes"),
    (2**20 - 1, "1048575 bytes", "1048575 bytes"),  # just under 1 MiB: bytes, never "1 MiB"
    (2**20, "1 MiB", "1048576 bytes (1 MiB)"),
    (3 * 2**19, "1.5 MiB", "1572864 bytes (1.5 MiB)"),  # exactly 1.5 MiB: no "about"
    (90527061, "86.3 MiB", "90527061 bytes (about 86.3 MiB)"),  # serve-openai's limit, 86.3333... MiB
    (2**31, "2048 MiB", "2147483648 bytes (2048 MiB)"),
    (2**20 * 2 - 1, "2 MiB", "2097151 bytes (about 2 MiB)"),  # 1.999999 MiB rounds up, said as rounded
])
def test_a_size_is_bytes_under_a_mib_and_mib_to_one_decimal_above(size, short, exact):
    assert size_text(size) == short
    assert exact_size_text(size) == exact


def test_every_limit_message_says_its_size_the_same_way():
    assert too_large_message(90527061) == "request body too large: the limit is 90527061 bytes (about 86.3 MiB)"
    assert too_large_message(2**20, "/up") == ("request body too large: the limit is 1048576 bytes (1 MiB); files "
                                               "go to /up first")
    assert over_bytes(3 * 2**19) == "the files of one upload request may hold 1572864 bytes (1.5 MiB) in all"
