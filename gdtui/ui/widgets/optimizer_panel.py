"""Optimizer, the hiker: the step it actually took, its effective rate and its state.

Under the update, the step's arithmetic: the update rule with this step's numbers, checked
against the update torch applied (:mod:`gdtui.ui.widgets.arithmetic`); beside the rate, λmax and
the stability bound it gives, once λmax was measured (``k``, or ``curvature_every``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text

from gdtui.ui.format import fit, num
from gdtui.ui.messages import RunInfo, Snapshot
from gdtui.ui.widgets.arithmetic import (
    MISMATCH_STYLE,
    abridged,
    arithmetic_lines,
    condensed,
    curvature_line,
)
from gdtui.ui.widgets.quantity_table import WIDE_LIMIT, Quantity, quantity_table
from gdtui.ui.widgets.rich_canvas import RichCanvas

if TYPE_CHECKING:
    from gdtui.engine.arithmetic import StepArithmetic


class OptimizerPanel(RichCanvas):
    """Right half of the step panel: the update ``optimizer.step()`` applied."""

    DEFAULT_CSS = """
    OptimizerPanel { border: round $secondary; padding: 0 1; height: 1fr; }
    """

    def on_mount(self) -> None:
        """Title the panel."""
        self.border_title = "Optimizer · the hiker"
        self.border_subtitle = "optimizer.step()"

    def show(self, info: RunInfo | None, snapshot: Snapshot | None) -> None:
        """Draw the last record's optimizer half.

        The lr shown is the record's (the rate that step used); a rate changed since then is
        shown apart as the next one, so Δ/−∇ always sits under the lr it came from.
        """
        if info is None:
            self.show_renderable(Text(""))
            return
        if self.border_subtitle != info.torch_name:  # setting it repaints the whole widget
            self.border_subtitle = info.torch_name
        record = snapshot.record if snapshot is not None else None
        current_lr = snapshot.lr if snapshot is not None else info.lr
        head = Text.assemble((info.optimizer, "bold italic"), ("   lr ", "bold"))
        if record is None:
            head.append(num(current_lr))
            parts = [head]
            if snapshot is not None and snapshot.lambda_max is not None:
                parts.append(
                    curvature_line(snapshot.lambda_max, snapshot.bound, current_lr, self.size.width)
                )
            elif head.cell_len + 10 <= self.size.width and info.model is None:
                head.append("   k: λmax", style="dim")
            parts.append(Text("waiting for the first step", style="dim"))
            self.show_renderable(Group(*parts))
            return
        head.append(num(record.lr))
        if record.lr != current_lr:
            head.append(f"  (next steps: {num(current_lr)})", style="dim")
        width = self.size.width
        above: list[Text] = [head]
        if snapshot is not None and snapshot.lambda_max is not None:
            above.append(curvature_line(snapshot.lambda_max, snapshot.bound, current_lr, width))
        elif head.cell_len + 10 <= width and info.model is None:
            head.append("   k: λmax", style="dim")
        norms = Text.assemble(
            ("‖Δ‖ ", "bold"), num(record.update_norm), ("  cos(−∇,Δ) ", "bold"), num(record.cos, 4)
        )
        above.append(norms)
        names = info.param_names
        arithmetic = snapshot.arithmetic if snapshot is not None else None
        rows: list[Quantity] = [
            ("Δ", record.update, "bold magenta"),
            ("Δ / −∇", record.effective_lr, ""),
        ]
        if len(names) > 1:
            rows.append(("θ after", record.params, ""))
        table_rows = 1 + (len(rows) if len(names) <= WIDE_LIMIT else len(names))
        budget = self.size.height - sum(self._rows(part, width) for part in above) - table_rows
        parts = [*above]
        theta = len(names) == 1  # the worked example reads: w 5.0 → 4.4
        if arithmetic is not None:
            if theta:  # the θ row goes first when rows are short (the arithmetic has it too)
                needed = len(arithmetic_lines(arithmetic, width).split("\n"))
                theta = needed + 1 <= budget or needed > budget
                budget -= 1 if theta else 0
            text, _ = self._arithmetic(arithmetic, names, width, budget)
            parts.append(text)
        elif snapshot is not None and snapshot.arithmetic_note and budget >= 1:
            parts.append(
                Text(snapshot.arithmetic_note, style="dim", no_wrap=True, overflow="ellipsis")
            )
        if theta:
            before, after = fit([record.params_before[0], record.params[0]], (width - 14) // 2)
            rows.insert(0, ("θ", (f"{before} → {after}",), ""))
        # Moments first, the step counter last: at 80x24 what gets cut is the least telling.
        state = sorted(record.state.items(), key=lambda item: item[0] == "step")
        rows += [(Text(key, style="dim"), values, "") for key, values in state]
        parts.append(quantity_table(names, rows, width))
        self.show_renderable(Group(*parts))

    def _rows(self, text: Text, width: int) -> int:
        """Rows ``text`` takes at ``width`` cells (a long line wraps)."""
        if width <= 0 or not self.is_attached:
            return text.plain.count("\n") + 1
        console = self.app.console
        return len(console.render_lines(text, console.options.update(width=width), pad=False))

    @staticmethod
    def _arithmetic(
        arithmetic: StepArithmetic, names: Sequence[str], width: int, rows: int
    ) -> tuple[Text, bool]:
        """The step's arithmetic in at most ``rows`` rows (at least one): in full, else the lines
        that move a parameter, else those cut to rule and result, else cut with ``…``; a
        mismatch with torch always shows. Also whether every line that moves a parameter is
        shown."""
        rows = max(rows, 1)
        text = arithmetic_lines(arithmetic, width)
        lines = text.split("\n")
        for shorter in (condensed, abridged):
            if len(lines) <= rows:
                break
            text = arithmetic_lines(shorter(arithmetic, names), width)
            lines = text.split("\n")
        if len(lines) <= rows:
            return text, True
        keep = lines[:rows]
        if not arithmetic.matches:  # never cut away: the verdict takes the last row
            keep[-1] = Text(
                f"✗ differs from torch's update ({arithmetic.worst:.2g})",
                style=MISMATCH_STYLE,
                no_wrap=True,
                overflow="ellipsis",
            )
        else:
            keep[-1] = keep[-1].copy()
            keep[-1].append(" …", style="dim")
        return Text("\n").join(keep), False
