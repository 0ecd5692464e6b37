"""The command palette, guarded against a known Textual bug.

Textual 8.2's ``OptionList`` keeps a map from option index to line that is rebuilt only when it
renders. PageDown (or up, or down) pressed while the palette is still filling its list reads that
map before it holds the new options and raises ``KeyError`` — which would end the whole app. The
palette here catches that one failure of its list moves, writes the traceback to the app's log and
keeps running; the key is simply lost (pressing it again works once the list is drawn).
"""

from __future__ import annotations

import traceback

from textual.command import CommandPalette


class GuardedCommandPalette(CommandPalette):
    """Textual's command palette whose list moves survive the list being rebuilt.

    Its list also keeps a minimum width: Textual's ``OptionList`` raises ``ValueError`` when it
    wraps its options at a width of 0 (a terminal a few columns wide).
    """

    DEFAULT_CSS = """
    GuardedCommandPalette > Vertical { min-width: 24; }
    GuardedCommandPalette CommandList { min-width: 20; }
    """

    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except LookupError as err:  # KeyError/IndexError from OptionList's stale line map
            self._note_library_bug(err, action)

    def _action_cursor_down(self) -> None:
        try:
            super()._action_cursor_down()
        except LookupError as err:
            self._note_library_bug(err, "cursor_down")

    def _note_library_bug(self, err: LookupError, action: str) -> None:
        text = "".join(traceback.format_exception(err))
        note = f"command palette: '{action}' while its list was being rebuilt (ignored)\n{text}"
        log_note = getattr(self.app, "log_note", None)
        if log_note is not None:
            log_note(note, error=True)
        else:
            self.log.error(note)
