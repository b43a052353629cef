"""A caller's value as a refusal names it: ``repr`` bounded, so a 100,000-character argument (or a deep list)
sent to a public endpoint comes back as one short line, and the message still says what was expected.
Secrets are taken out of each string before it is cut (``redaction.redact``): a cut keeps the start and the
end of a long value, and a key cut in two matches neither its value nor its shape any more, so redacting the
message afterwards would leave both halves of a key pasted into the wrong setting. What keeps a name or id from
outside from being one line of text a table can show is said here too (``unshown_character``, ``one_line_fault``),
and such a name is written as Markdown that shows as itself (``markdown_text``)."""

from __future__ import annotations

import re
import reprlib
import unicodedata

import regex

from realunify_arena.redaction import redact, secret_values

# Only this many characters at each end of a long string are redacted and kept for the cut, which shows
# about 30 of each end: a key or token is tens to hundreds of characters, so none reaches into the shown part
# from the cut-out middle, and a refusal of a 1 MB value costs what one of 8 kB does (redacting it whole took
# ~40 ms).
SECRET_WINDOW = 4096


class _Brief(reprlib.Repr):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.maxlevel, self.maxlist, self.maxdict, self.maxstring, self.maxother, self.maxlong = 1, 4, 4, 60, 60, 40
        self._secrets = secrets

    def repr_int(self, x: int, level: int) -> str:
        """A long integer keeps its leading digits (its size reads from them): 37 of them and '...'."""
        return clipped(repr(x), self.maxlong)

    def repr_str(self, x: str, level: int) -> str:
        """A string with its secrets masked (``***``) before it is cut (of a long one, only its two ends)."""
        if len(x) > 2 * SECRET_WINDOW:
            x = x[:SECRET_WINDOW] + x[-SECRET_WINDOW:]  # the middle is cut out below anyway
        return super().repr_str(redact(x, self._secrets), level)


def brief(value: object) -> str:
    """``repr(value)``, at most about 60 characters (a long string keeps its start and end around '...'; an
    integer past 40 characters its first 37 and '...'), each string's secrets masked as ``***`` first (the
    secret values are read once per call)."""
    return _Brief(secret_values()).repr(value)


_JSON_KINDS = {type(None): "null", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "a list", dict: "an object"}


def json_kind(value: object) -> str:
    """What ``value`` (as ``json.loads`` or a YAML loader builds it) is, as JSON names it: "null", "a string", "an
    integer", "a number", "a boolean", "a list", "an object"; another type's Python name."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def clipped(text: str, length: int) -> str:
    """``text`` if it has at most ``length`` characters (``length`` >= 3), else its first ``length - 3`` and
    '...': a message keeps its start, where what went wrong is said."""
    return text if len(text) <= length else text[:length - 3] + "..."


def said(error: BaseException) -> str:
    """An exception's message as written: its first argument, else ``str(error)``. ``str`` of a ``KeyError`` is
    the ``repr`` of its message, quotes included; stripping those also took the message's own closing quote
    ("no instance 'x' in dataset 'bundled")."""
    return str(error.args[0]) if error.args else str(error)


def error_line(error: BaseException) -> str:
    """``error``'s message as one line (its white space runs joined: the Hub's HTTP errors run over several); its
    type's name where the message is empty (a bare ``assert`` in a library: diffusers' DPMSolverMultistepScheduler
    ``set_timesteps`` raises ``AssertionError()``), so a message quoting it never ends in an empty quote."""
    return " ".join(str(error).split()) or type(error).__name__


def plural(noun: str, count: int) -> str:
    """``noun`` in the plural unless ``count`` is 1 (English rules for regular nouns: "box" -> "boxes",
    "entry" -> "entries", "day" -> "days")."""
    if count == 1:
        return noun
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def counted(count: int, noun: str) -> str:
    """"1 entry", "3 entries": ``count`` and ``noun`` in the number it takes (``plural``)."""
    return f"{count} {plural(noun, count)}"


# The characters no table cell or one-line message shows as text, by Unicode general category.
_UNSHOWN = {"Cc": "a control character", "Cf": "an invisible format character", "Cs": "a lone surrogate",
            "Zl": "a line separator", "Zp": "a paragraph separator"}


# Where a zero-width non-joiner (U+200C) or joiner (U+200D), invisible format characters, changes how the
# characters around it are drawn, so two names differing by it look different: UAX #31 (Unicode Identifiers),
# section 2.3, rules A1 (ZWNJ between an Arabic-script letter that joins the next and one that joins the previous,
# transparent marks between: Persian "می‌خواهم"), A2 and B (ZWNJ or ZWJ after a virama, in Indic scripts; here a
# letter must follow too), and UTS #51 (Emoji) ED-16 (ZWJ between two pictographs, each of which may carry a skin
# tone modifier or the emoji presentation selector U+FE0F: "👩‍💻", "🏳️‍🌈"). Anywhere else (first, last, two
# together, beside a space, between Latin letters) it draws nothing, so "a\u200db" and "ab" would be shown alike.
_EMOJI_JOINED = r"(?<=\p{Extended_Pictographic}[\p{Emoji_Modifier}\uFE0F]?)\u200D(?=\p{Extended_Pictographic})"
_JOINED = regex.compile(
    r"(?<=[\p{jt=D}\p{jt=L}]\p{jt=T}*)\u200C(?=\p{jt=T}*[\p{jt=D}\p{jt=R}])"
    r"|(?<=\p{L}\p{Mn}*\p{ccc=Virama}[\p{Mn}&&\P{ccc=0}]*)[\u200C\u200D](?=\p{L})"
    rf"|{_EMOJI_JOINED}", regex.VERSION1)
_JOINERS = ("\u200c", "\u200d")
_EMOJI_JOINER = regex.compile(_EMOJI_JOINED, regex.VERSION1)


def font_joined(text: str) -> bool:
    """Whether ``text`` holds a zero-width joiner between two emoji (UTS #51 ED-16: "👩‍💻"): drawn as one picture
    where the font has that sequence, else as the two emoji, just as the text without the joiner is drawn. A
    table showing such a text as written may show two names alike (Persian and Indic joiners change the letters'
    forms in any font of their script)."""
    return bool(_EMOJI_JOINER.search(text))


def unshown_character(text: str) -> str | None:
    """``"holds a control character (U+000A)"`` for the first character of ``text`` that no table shows as one
    line of text: a control (a line break, a tab, NUL), an invisible format character (a bidi override, a zero-width
    space), a lone surrogate, a line or paragraph separator; None when there is none. A zero-width joiner or
    non-joiner (U+200D, U+200C) is taken only where it joins two characters it changes the drawing of (``_JOINED``:
    UAX #31 section 2.3, UTS #51 ED-16), and said so elsewhere. For a name or id from outside (a file's cell, a
    command's argument) that is compared, stored or shown."""
    for at, char in enumerate(text):
        what = _unseen(text, at)
        if what and char in _JOINERS:
            return (f"holds {what} (U+{ord(char):04X}) where it joins nothing: it is taken only between two "
                    "characters whose drawing it changes (letters of a script that joins them, or emoji: UAX #31 "
                    "section 2.3, UTS #51)")
        if what:
            return f"holds {what} (U+{ord(char):04X})"
    return None


def visible(text: str) -> str:
    """``text`` as one line that shows as what it is, for a plain-text label (a menu's choice, a heading built from
    a folder's name): each character ``unshown_character`` would name written as ``[U+202E]``, so a right-to-left
    override (U+202E) no longer reverses what follows it ("evil\u202egnp.exe" drawn as "evilexe.png"), nor a
    zero-width space hides in a name; every other character is kept. A joiner where it joins (``_JOINED``) stays."""
    return "".join(f"[U+{ord(char):04X}]" if _unseen(text, at) else char for at, char in enumerate(text))


def _unseen(text: str, at: int) -> str | None:
    """What kind of character ``text[at]`` is when no table shows it as one line of text (``_UNSHOWN``'s words), or
    None: a visible character, or a zero-width joiner where it joins (``_JOINED``). The one rule of
    ``unshown_character`` and ``visible``."""
    char = text[at]
    what = _UNSHOWN.get(unicodedata.category(char))
    if what and char in _JOINERS and _JOINED.match(text, at):
        return None
    return what


def canonical(text: str) -> str:
    """``text`` in Unicode Normalization Form C (UAX #15), for a name from outside that is stored or compared (a
    dataset named after a folder, a judge's or dataset's name on the command line): canonically equivalent texts
    are one text (The Unicode Standard, conformance clause C6), and "G\u00e9mini" arrives as "Ge" and U+0301 from
    a Mac's file name or a terminal's completion of one. Two names that differ only so were stored apart and shown
    alike ("judged by G\u00e9mini" twice)."""
    return unicodedata.normalize("NFC", text)


def as_stored(asked: str, stored) -> str:
    """The name among ``stored`` (names a store holds) that ``asked`` (a name on the command line) names: itself
    when stored so, else the stored name that is the same text in another normalization form (``canonical``: a
    store written before names were put in NFC holds one as it was typed), else ``asked`` (stored nowhere)."""
    stored = list(stored)
    if asked in stored:
        return asked
    return next((name for name in stored if canonical(name) == canonical(asked)), asked)


# UTS #39 (Unicode Security Mechanisms) section 5.1: a character's Script_Extensions, Common (Zyyy) and Inherited
# (Zinh) standing for every script, and Han, Hiragana, Katakana, Hangul and Bopomofo augmented with the writing
# systems that mix them (Jpan: Japanese, Kore: Korean, Hanb: Han with Bopomofo).
_ANY_SCRIPT = frozenset({"Zyyy", "Zinh"})
_AUGMENTED = {"Hani": {"Hanb", "Jpan", "Kore"}, "Hira": {"Jpan"}, "Kana": {"Jpan"}, "Hang": {"Kore"}, "Bopo": {"Hanb"}}
_LOOK_LATIN = frozenset({"Cyrl", "Grek"})  # the scripts section 5.2's Moderately Restrictive level keeps from Latin


def _resolved_scripts(text: str) -> set[str] | None:
    """UTS #39 section 5.1's resolved script set of ``text`` (None: every script, as for "4-_" or "")."""
    from fontTools.unicodedata import script_extension

    resolved: set[str] | None = None
    for char in text:
        scripts = set(script_extension(char))
        if scripts & _ANY_SCRIPT:
            continue
        for script in list(scripts):
            scripts |= _AUGMENTED.get(script, set())
        resolved = scripts if resolved is None else resolved & scripts
    return resolved


# what parts a name into words, each checked on its own (``mixed_script``): white space, "_", ".", "/" and "\\"
_WORD_BREAKS = re.compile(r"[\s_./\\]+")


def mixed_script(text: str) -> bool:
    """Whether a word of ``text`` mixes scripts as a name passing for another does: below UTS #39 section 5.2's
    Moderately Restrictive level, which takes a single script (section 5.1's resolved script set not empty: "Сірсӏе"
    all Cyrillic, "Circ1e", "〆切", "ねガ"), or Latin with Han and Japanese kana, Han and Bopomofo, Han and Hangul, or
    one other script but Cyrillic or Greek ("Qwen通义千问", "Jaisعربي"). "gpt-4" written with a Cyrillic "р"
    (U+0440) is below it, as UTS #39's "Сirсlе" is: a table shows such a name as Python's ``ascii`` writes it.

    Each word is checked on its own (the parts between white space, "_", ".", "/" and "\\"), as browsers check
    each label of an internationalized domain name: "RealUnify_данные" and "GPT-4 Ελληνικά" name a thing in two
    languages, word by word, and pass; a letter of another script inside a word ("bundlеd") does not. Each
    character's Script_Extensions are read from fontTools' copy of the Unicode Character Database."""
    if text.isascii():  # Latin and Common only
        return False
    return any(_mixed_word(word) for word in _WORD_BREAKS.split(text) if word)


def _mixed_word(word: str) -> bool:
    """``mixed_script`` for one word."""
    resolved = _resolved_scripts(word)
    if resolved is None or resolved:
        return False
    from fontTools.unicodedata import script_extension

    rest = _resolved_scripts("".join(c for c in word if "Latn" not in script_extension(c)))
    return not (rest is None or rest & {"Jpan", "Kore", "Hanb"} or (rest and not rest & _LOOK_LATIN))


def one_line_fault(text: str, most: int, noun: str) -> str | None:
    """What keeps ``text`` (a name or id from outside that is compared, stored or shown) from being one line of 1
    to ``most`` characters as given: ``"300 characters"``, ``"white space around it (a different <noun> from the
    one without)"``, ``unshown_character``'s phrase, or scripts mixed as a name passing for another's are
    (``mixed_script``: "bundled" with a Cyrillic "е" would be stored and shown as a second "bundled"); None when
    nothing does. Empty text is the caller's to say."""
    if len(text) > most:
        return f"{len(text)} characters"
    if text != text.strip():
        return f"white space around it (a different {noun} from the one without)"
    unshown = unshown_character(text)
    if unshown is None and mixed_script(text):
        return (f"{ascii(text)} mixes a Cyrillic or Greek letter with Latin ones (or scripts no language writes "
                f"together: UTS #39), so it would be shown as another {noun}'s name")
    return unshown


# CommonMark's (and GitHub's table) inline syntax: code, emphasis, links and images, raw HTML and entities (an entity
# such as "&#47;" spells a character a folder name cannot hold), table cells, strikethrough and math; each
# backslash-escaped shows as itself (CommonMark 0.31, 2.4 "Backslash escapes").
_MARKDOWN = {ord(c): "\\" + c for c in "\\`*[]<>&|~$"}
# A run of "_" opens or closes emphasis only at a word's edge (CommonMark 0.31, 6.2: a run between two letters or
# digits, "judge_answer", "m__seed_0", never does): escaped there only, so such a name reads the same in a terminal.
_UNDERSCORES = re.compile(r"_+")
# What starts a link with no markup at all in GitHub's Markdown and Gradio's (GFM 0.29, 6.9 "Autolinks (extension)";
# marked's gfm rules): "www.", a scheme's "://" and an address's "@" ("www.x.org", "https://x", "a@x.org"). One of
# their marks escaped, the text is no link and shows the same.
_AUTOLINK_MARKS = re.compile(r"(?i)(?<=www)\.|:(?=//)|@")
# A run of "#" standing as a word of its own: at a line's start it opens a heading, and at the end of a heading it is
# the heading's closing sequence, which is not shown (CommonMark 0.31, 4.2 "ATX headings": a judge "judge #" named
# last in a report's heading showed as "judge"). Escaped, it shows as itself; "C#" or "#3" are left as they are.
_HASHES = re.compile(r"(?<!\S)#+(?!\S)")


def markdown_text(text: str) -> str:
    """``text`` (one line: a name from outside, such as a dataset named after a published folder, a judge name, a
    model label) as Markdown that shows as itself, in a heading, a paragraph or a table cell: a name with ``|``,
    a backtick, ``<img src=...>``, ``[a](b)``, ``**b**`` or ``www.x.org`` in it breaks no table and makes no element
    (no link either: GFM links a bare web or mail address), and a "#" standing alone neither opens nor closes a
    heading ("judge #" last in a heading). Letters, digits, spaces and other punctuation are left
    as they are, so a plain name reads unchanged."""
    text = _AUTOLINK_MARKS.sub(lambda mark: "\\" + mark.group(), text.translate(_MARKDOWN))
    text = _HASHES.sub(lambda run: run.group().replace("#", "\\#"), text)

    def underscores(run: re.Match) -> str:
        start, end = run.span()
        inside = 0 < start and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
        return run.group() if inside else run.group().replace("_", "\\_")

    return _UNDERSCORES.sub(underscores, text)
