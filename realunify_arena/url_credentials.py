"""Base URLs the package's HTTP clients are pointed at carry no user information (``http://alice:PASSWORD@host``).

httpx, under the openai, google-genai and huggingface_hub clients and the package's own probes, turns a URL's
user information into ``Authorization: Basic base64(user:password)`` (RFC 7617) that replaces the client's own
``Bearer`` key: the key is never sent and the password travels in every request. RFC 3986 section 3.2.1
deprecates ``user:password`` in a URL. Such a URL is refused where it enters: a card's ``endpoint`` when the
card is read (``cards``), and the variables below at start-up (``app.py``, the commands that read cards) and
when a Gemini client falls back to its variable. No message quotes any part of the URL (the password is in it,
and a card's problem reaches the page).
"""

from __future__ import annotations

import os
import re

from realunify_arena.settings import SettingsError

# variable -> where its client's secret belongs instead (the HTTP clients read these base URLs themselves)
URL_VARIABLES = {
    "HF_ENDPOINT": "the environment variable HF_TOKEN (huggingface_hub sends it as a Bearer token)",
    "GOOGLE_GEMINI_BASE_URL": "the environment variable named by the gemini card's api_key_env",
}
_AUTHORITY = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]*:)?//([^/?#]*)")  # RFC 3986 section 3.2


def userinfo_problem(url: str | None, secret_goes_to: str) -> str | None:
    """Why ``url`` must not be given to an HTTP client, or None: its authority holds ``@`` (user information,
    with a password or a user name alone; a URL without ``//`` has no authority). ``secret_goes_to`` ends the
    message: where the secret belongs instead (an environment variable). The message quotes no part of ``url``."""
    authority = _AUTHORITY.match(url or "")
    if authority is None or "@" not in authority.group(1):
        return None
    return ("the URL carries user information before '@' (a user name or password; RFC 3986 section 3.2.1 "
            "deprecates it), which the HTTP client would send as Basic auth in every request in place of the "
            f"API key; remove it (the URL becomes scheme://host/path) and put the secret in {secret_goes_to}; "
            "the value is not shown")


def variable_problem(name: str) -> str | None:
    """``"$NAME: ..."`` when the variable ``name`` (a key of ``URL_VARIABLES``) holds user information, else None."""
    problem = userinfo_problem(os.environ.get(name), URL_VARIABLES[name])
    return f"${name}: {problem}" if problem else None


def check_url_variables() -> None:
    """Refuse a base URL variable of ``URL_VARIABLES`` that carries user information.

    Raises:
        SettingsError: the message names the first such variable and where its secret goes; it quotes no
            part of the value.
    """
    for name in URL_VARIABLES:
        problem = variable_problem(name)
        if problem:
            raise SettingsError(problem)
