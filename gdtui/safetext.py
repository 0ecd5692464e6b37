"""Show text that came from a file or a user without letting it drive the terminal.

A scenario's loss name, a file name or a formula can hold ``ESC ] 0 ; title BEL`` (which retitles
the terminal), ``ESC [ 2 J`` (which clears it), newlines that break a one-line message, or a
Unicode bidi override that reorders what is shown. :func:`visible` writes every such character
as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``) and cuts huge text, so an error line stays
one short line. Imports nothing heavy: the CLI uses it before torch loads.
"""

from __future__ import annotations

import unicodedata

__all__ = ["DEFAULT_LIMIT", "visible"]

DEFAULT_LIMIT = 200
"""Most characters :func:`visible` returns before the "… (N characters)" suffix."""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Cc: C0/C1 controls and DEL; Cf: format characters (bidi overrides, zero-width joiners, BOM);
# Cs: lone surrogates (undecodable bytes of a file name); Zl/Zp: line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        # os.fsdecode's surrogateescape: show the undecodable byte itself.
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` with every control or format character escaped, cut to about ``limit`` characters.

    Printable text, including non-ASCII letters, is kept as it is. When the escaped text would be
    longer than ``limit``, it is cut and ``"… (N characters)"`` names the full length of ``text``.
    Non-strings are shown through ``str()``.
    """
    if not isinstance(text, str):
        text = str(text)
    limit = max(1, int(limit))
    pieces: list[str] = []
    used = 0
    # Each input character gives at least one output character, so at most `limit + 1` input
    # characters are ever looked at: a 1 MB string costs no more than a short one.
    for ch in text[: limit + 1]:
        piece = _escape(ch) if unicodedata.category(ch) in _HIDDEN_CATEGORIES else ch
        if used + len(piece) > limit:
            return "".join(pieces) + f"… ({len(text)} characters)"
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces)
