"""The CA certificates every HTTPS client of the package trusts (hub and endpoint probes, the OpenAI-compatible
and Gemini adapters), and how a failed certificate check is reported.

The CAs come from the environment, as ``requests`` and ``httpx`` read it: each of ``SSL_CERT_FILE``,
``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` that is set (and not empty) names a PEM file of CA
certificates or a folder of them (hashed names, as ``openssl rehash`` makes; ``SSL_CERT_DIR`` names such a
folder too). Every variable set adds its CAs, so a bundle named in ``REQUESTS_CA_BUNDLE`` is trusted even
where the system also sets ``SSL_CERT_FILE``; with none set, certifi's bundle is used (httpx's default).
"""

from __future__ import annotations

import functools
import os
import ssl

from realunify_arena.settings import SettingsError

CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_ALL_VARIABLES = (*CA_VARIABLES, "SSL_CERT_DIR")


def tls_context() -> ssl.SSLContext:
    """The TLS context for the package's HTTPS clients: the CAs the environment names (see the module), else
    certifi's. Built once per set of values (loading a bundle takes ~40 ms of CPU, which every probe client
    paid again), so a variable changed later takes effect for clients built after it.

    Raises:
        SettingsError: a variable names no file or folder, or a file without a PEM certificate; the message
            names the variable and its value.
    """
    return _context(tuple((name, os.environ[name]) for name in _ALL_VARIABLES if os.environ.get(name)))


@functools.cache
def _context(named: tuple[tuple[str, str], ...]) -> ssl.SSLContext:
    if not named:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    context = None
    for name, value in named:
        path = os.path.expanduser(value)
        where = {"capath": path} if os.path.isdir(path) else {"cafile": path} if os.path.isfile(path) else None
        if where is None:
            raise SettingsError(f"{name}={value}: no such CA file or folder (it should name a PEM file of CA "
                                f"certificates or a folder of them; unset it to use the default CAs)")
        try:
            if context is None:
                context = ssl.create_default_context(**where)  # only these CAs, as httpx and requests do
            else:
                context.load_verify_locations(**where)
        except (ssl.SSLError, OSError) as exc:
            raise SettingsError(f"{name}={value}: cannot be read as CA certificates (a PEM file or a folder of "
                                f"them): {exc.strerror or exc}") from None
    return context


def certificate_problem(exc: BaseException) -> str | None:
    """What to tell the user when ``exc`` (an HTTP client's error) failed a certificate check, i.e. holds an
    ``ssl.SSLCertVerificationError`` in its ``__cause__``/``__context__`` chain; None for any other error."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = exc.verify_message or exc.reason or "verification failed"
            return (f"the TLS certificate could not be verified ({why}); to trust the CA that signed it, set "
                    f"{', '.join(CA_VARIABLES[:-1])} or {CA_VARIABLES[-1]} to a CA file or folder")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
