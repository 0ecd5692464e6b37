"""Open a scenario: the built-ins and the .toml files in the working directory."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from gdtui.safetext import visible


class OpenScenarioScreen(ModalScreen[str | None]):
    """Pick a scenario; dismisses with its name or path (None if cancelled)."""

    DEFAULT_CSS = """
    OpenScenarioScreen { align: center middle; }
    OpenScenarioScreen > Vertical {
        width: 90%; max-width: 100; min-width: 24; height: auto; max-height: 80%;
        border: round $primary; background: $surface;
    }
    OpenScenarioScreen OptionList {
        height: auto; max-height: 30; min-width: 20; border: none;
    }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "cancel", show=False)]

    def __init__(self, builtins: list[tuple[str, str]], folder: Path | None = None) -> None:
        super().__init__()
        self.builtins = builtins
        self.folder = folder or Path.cwd()
        self._answered = False

    def compose(self) -> ComposeResult:
        """Built-ins first, then the folder's .toml files.

        Names and titles are shown with control characters made visible: a file name holding
        ``ESC ] 0 ; … BEL`` must not retitle the terminal, nor a newline break the list.
        """
        options: list[Option] = [
            Option(Text(f"{visible(name, 60):24s} {visible(title, 100)}"), id=f"builtin:{name}")
            for name, title in self.builtins
        ]
        try:
            files = sorted(p for p in self.folder.glob("*.toml") if p.is_file())
        except OSError:
            files = []
        options += [
            Option(Text(f"{visible(p.name, 60):24s} ({visible(self.folder, 100)})"), id=f"file:{p}")
            for p in files[:200]
        ]
        with Vertical() as box:
            box.border_title = "open a scenario"
            box.border_subtitle = "enter opens · esc cancels"
            yield OptionList(*options)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Return the chosen scenario."""
        option_id = event.option.id or ""
        kind, _, value = option_id.partition(":")
        self._answer(value if kind in ("builtin", "file") else None)

    def action_dismiss_none(self) -> None:
        """Cancel."""
        self._answer(None)

    def _answer(self, choice: str | None) -> None:
        # Enter pressed twice (or Enter then esc) before the screen is gone would dismiss it
        # twice, and the second pop takes the main screen with it (ScreenStackError).
        if self._answered:
            return
        self._answered = True
        self.dismiss(choice)
