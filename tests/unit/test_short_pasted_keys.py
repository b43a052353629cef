"""A short or ``_``-joined API key pasted into a card's ``api_key_env`` is refused like a long one.

The field names the environment variable that holds the key (``OPENAI_API_KEY``); a card whose field holds the
key itself would show it wherever the card's availability is shown ("API key variable <key> is unset": the
page's model menus, ``models``). Before, only keys of 20+ characters without a ``_``, mixed-case ones and ones
with a ``-`` were refused: a 16-digit hex key, a short one-case alphanumeric key, or a one-case key joined by
``_`` (``sk_live_...``) loaded. A POSIX name (POSIX.1-2017, Base Definitions 3.235: letters, digits and ``_``, not
starting with a digit) made of words is taken; a part of random characters is not. Real card files.
"""

from __future__ import annotations

import pytest

from realunify_arena.cards import CardError, load_card

# keys as providers' shapes go, each one case and none of them 20+ characters without a '_'
SHORT_KEYS = ["a3f9c0d4be1d2778",  # 16 hex digits
              "X7K2P9Q4M1ZT",  # 12 upper-case alphanumerics
              "x7k2p9q4m1",  # 10 lower-case alphanumerics
              "sk_live_4ec39hqlyjwdarjtt1zdp7dc",  # a Stripe-style secret key, lower-cased
              "hf_abcd1234efgh5678",  # a token-style prefix with a short body
              "KEY_A3F9C0D4BE1D27788AA01C5E6F4D3B2A",  # a key behind a word
              "deadbeef00c0ffee1234"]  # 20 hex digits
NAMES = ["OPENAI_API_KEY", "HF_TOKEN", "GEMINI_API_KEY", "my_key", "KEY2", "OPENROUTER_API_KEY_2026",
         "GPT4O_KEY", "QWEN25VL_TOKEN", "ECHO16_SERVICE_KEY", "ARENA_KEY_20260101", "S3_SECRET"]


REMOTE = "family: openai\ndescription: d\ncapabilities: [understand]\nendpoint: http://127.0.0.1:9/v1\ncheckpoint: m\n"


@pytest.mark.parametrize("key", SHORT_KEYS)
def test_a_short_key_in_api_key_env_is_refused_without_quoting_it(card_folder, key):
    with pytest.raises(CardError) as caught:
        load_card(card_folder("remote", f"{REMOTE}api_key_env: {key}\n") / "remote.yaml")
    message = str(caught.value)
    assert "field 'api_key_env': expected the name of the environment variable" in message
    assert key not in message
    for part in key.split("_"):  # no piece of it either
        assert len(part) < 8 or part not in message


@pytest.mark.parametrize("name", NAMES)
def test_a_variable_name_made_of_words_is_taken(card_folder, name):
    assert load_card(card_folder("remote", f"{REMOTE}api_key_env: {name}\n") / "remote.yaml").api_key_env == name
