"""What ``redaction.redact`` costs per call, and that no text makes it super-linear.

Part 1, per call: a 100-character and a 100,000-character error-like text, with 0, 1 and 5 secrets set
(``*_API_KEY`` variables of 56 random characters), median microseconds per call; the reference in the same run is
the same call with no secret (the key shapes alone), and the ratio to it is printed.

Part 2, growth: texts built to make a regex backtrack, at n and 4n characters (n = ``--n``, 25,000 by default); a
linear cost makes the ratio of the two times ~4, a quadratic one ~16. Before the gap between a secret's characters
was possessive (``redaction._GAP``), "correct" and n spaces against a secret "correct horse battery staple" grew
with the square of n (8,000 spaces: ~3 s on a shared 2-core machine).

    python bench/redact_cost.py [--n 25000]

Part 3, compiling: the first call's cost with one key and with a PEM private key in a variable (~1,700 characters):
a text longer than ``redaction.MAX_ESCAPED_CHARS`` is matched as written, so its regex stays small (before: ~4-9 s
for the PEM key, paid by every process, each command of the CLI included).

A few seconds. On 2026-12-07, 2 cores shared with other work, one run each: 100,000 characters cost
~45 ms with no secret (the key shapes); with 5 secrets, ~150 ms at 1b8fa87 (the secrets' one regex tried at every
position) and ~70 ms since the regex first looks at whether a position's character can start a form (5 secrets:
~13 ms of it against ~95 ms); every growth ratio 3-9 at n = 25,000 and 50,000 (the times are a few tens of ms, so
the ratio is noisy). Before: the passphrase case ~6x per 2x of n (4,000 spaces 0.42 s, 8,000 2.7 s), the
JSON line breaks 1.8 s at 10,000 characters and 16 s at 40,000.

Session 34: a match may start after a backslash again (a key after one was not masked at all), except at the "n",
"r" or "t" of an escape that more gap follows; the "n-key" cases (a key starting with "n", NVIDIA's "nvapi-",
against runs of "\\n") check that this keeps such a run linear. On 2026-12-07, 2 shared cores, n = 25,000, one run
each before and after the change: every growth ratio 3.1-4.6 after (3.9-4.0 before); at 100,000 characters the
n-key line breaks 0.04 -> 0.05 s, escaped backslashes before "n" 0.04 -> 0.09 s and a key's first half after a
backslash 0.02 -> 0.04 s (each such "n" or character is a start now); part 1 unchanged (~22 ms with no secret, ~33 ms
with 5). With no guard at all (any character after a backslash a start) a run of "\\n" against an n-key grew ~16x
per 4x of the text (one-off check, 4,000 and 16,000 characters: 0.04 s and 0.67 s).
"""

from __future__ import annotations

import random
import re
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realunify_arena import redaction  # noqa: E402

WORDS = "the model answered HTTP 400 with an error: invalid request, check the prompt and image size".split()


def _text(size: int, rnd: random.Random) -> str:
    words = []
    while sum(map(len, words)) + len(words) < size:
        words.append(rnd.choice(WORDS))
    return " ".join(words)[:size]


def _median_us(text: str, secrets: list[str], calls: int) -> float:
    redaction.redact(text, secrets)  # the pattern compiled once
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        redaction.redact(text, secrets)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = redaction.RedactingParser(description=__doc__.splitlines()[0])  # one-line usage errors, keys masked
    parser.add_argument("--n", type=int, default=25_000, help="the smaller size of part 2's texts")
    args = parser.parse_args()
    rnd = random.Random(7)
    keys = ["sk-proj-" + "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(48)) for _ in range(5)]
    forms = {count: sorted({f for key in keys[:count] for f in redaction._wire_forms(key)}, key=len, reverse=True)
             for count in (0, 1, 5)}
    print("part 1: median us per call (ratio to no secret)")
    for size, calls in ((100, 200), (100_000, 5)):
        text = _text(size, rnd)
        base = _median_us(text, forms[0], calls)
        line = [f"{size:>7} chars: no secret {base:.0f}"]
        for count in (1, 5):
            took = _median_us(text, forms[count], calls)
            line.append(f"{count} secret(s) {took:.0f} ({took / base:.1f}x)")
        print("; ".join(line), flush=True)
    other = random.Random(11)  # its own stream: the other cases' texts stay those of earlier runs
    nvapi = "nvapi-" + "".join(other.choice(string.ascii_letters + string.digits) for _ in range(64))
    nkey = sorted(redaction._wire_forms(nvapi), key=len, reverse=True)
    passphrase = sorted(redaction._wire_forms("correct horse battery staple"), key=len, reverse=True)
    key = forms[1]
    cases = {
        "a passphrase's first word, then spaces": (passphrase, lambda n: "correct" + " " * n + "x"),
        "a key's first character, then spaces": (key, lambda n: keys[0][0] + " " * n + "x"),
        "a key's first character and '<' without '>'": (key, lambda n: (keys[0][0] + "<" + "a" * 150) * (n // 152)),
        "a key's first half, over and over": (key, lambda n: (keys[0][:28] + " ") * (n // 29)),
        "a key's first character, then tags": (key, lambda n: keys[0][0] + "<b>" * (n // 3) + "x"),
        "a key's first character, then JSON line breaks": (key, lambda n: keys[0][0] + "\\n" * (n // 2) + "x"),
        # a key starting with "n" (NVIDIA's "nvapi-"): each "n" of a run of escaped line breaks could start it; only
        # the run's last one may (``redaction._secret_pattern``), so its gap is passed over once
        "an n-key against JSON line breaks": (nkey, lambda n: "\\n" * (n // 2) + "x"),
        "an n-key against JSON line breaks and spaces": (nkey, lambda n: "\\n " * (n // 3) + "x"),
        "an n-key against JSON line breaks and tags": (nkey, lambda n: "\\n<b>" * (n // 5) + "x"),
        "an n-key against escaped backslashes before n": (nkey, lambda n: "\\\\n" * (n // 3) + "x"),
        "an n-key's first half after a backslash, over and over": (nkey, lambda n: ("\\" + nvapi[:20]) * (n // 21)),
    }
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(
        "".join(rnd.choice(string.ascii_letters + string.digits + "+/") for _ in range(64)) for _ in range(25))
    print("part 3: compiling the secrets' regex (first call), ms (ratio to one key)")
    took = {}
    for name, value in (("one 56-character key", keys[0]),
                        ("a 1,700-character PEM key", pem + "\n-----END PRIVATE KEY-----")):
        secrets = sorted(redaction._wire_forms(value), key=len, reverse=True)
        redaction._secret_pattern.cache_clear()
        re.purge()  # re's own cache of compiled patterns
        start = time.perf_counter()
        redaction.redact("x", secrets)
        took[name] = (time.perf_counter() - start) * 1e3
    base = took["one 56-character key"]
    print("; ".join(f"{name} {ms:.1f} ({ms / base:.1f}x)" for name, ms in took.items()), flush=True)
    print(f"part 2: seconds at {args.n} and {4 * args.n} characters (ratio; linear ~4, quadratic ~16)")
    for name, (secrets, make) in cases.items():
        small, large = (_median_us(make(size), secrets, 3) / 1e6 for size in (args.n, 4 * args.n))
        print(f"  {name}: {small:.3f} s, {large:.3f} s ({large / small:.1f}x)", flush=True)


if __name__ == "__main__":
    main()
