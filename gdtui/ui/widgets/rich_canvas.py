"""A LineCanvas that draws any Rich renderable, repainting only the cells that changed.

The step panels and the status line change several times a second while a run goes; redrawn
whole (a ``Static``), they would resend every cell each time. Drawn here, a new number costs the
bytes of its own digits.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.strip import Strip

from gdtui.ui.widgets.line_canvas import LineCanvas


class RichCanvas(LineCanvas):
    """Shows one Rich renderable, re-rendered on resize."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._renderable: RenderableType = Text("")

    def show_renderable(self, renderable: RenderableType) -> list[int]:
        """Show ``renderable``; return the rows that changed."""
        self._renderable = renderable
        return self.rerender()

    @property
    def text(self) -> str:
        """What the canvas shows, as plain text (for tests)."""
        return "\n".join(line.rstrip() for line in self.plain_lines)

    def rerender(self) -> list[int]:
        """Render at the current content size."""
        width, height = self.size
        if width <= 0 or height <= 0 or not self.is_attached:
            return []
        console = self.app.console
        options = console.options.update(width=width, height=height, highlight=False)
        lines = console.render_lines(self._renderable, options, pad=True)[:height]
        strips = [Strip(line, width) for line in lines]
        strips += [Strip.blank(width)] * (height - len(strips))
        return self.set_lines(strips)
