"""The System and AI panels: health sparklines and per-model AI figures.

The panels only draw: the console computes their data in a worker with
:mod:`logconsole.store.stats` and hands it over with ``set_data``, so a panel
never touches SQLite on the event loop.  Model names come from records and are
shown as plain text with control characters made visible.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Sparkline, Static

from logconsole import kinds as K
from logconsole.config import Settings
from logconsole.safe_text import visible
from logconsole.store.stats import METRICS, ModelStats

_DEFAULTS = Settings()
_METRIC_LABELS = {"cpu_usage": "cpu", "memory_usage": "memory", "disk_usage": "disk"}


def level_of(percent: float | None, warning: float, critical: float) -> str:
    """``ok``, ``warning`` or ``critical`` for a usage percentage."""
    if percent is None or percent < warning:
        return "ok"
    return "critical" if percent >= critical else "warning"


_STATUS_OF_LEVEL = {"ok": "healthy", "warning": "warning", "critical": "critical"}


def level_style(level: str) -> str:
    """The colour of a threshold level: the system status it stands for, as
    :mod:`logconsole.kinds` colours it everywhere else."""
    return K.SYSTEM.by_name["status"].style_of(_STATUS_OF_LEVEL[level])


def bar_style(level: str) -> Style:
    """A bar's colour: the level's hue alone (a badge's background, else its
    foreground), so the bar's height still shows."""
    style = Style.parse(level_style(level))
    return Style(color=style.bgcolor or style.color)


BARS = "▁▂▃▄▅▆▇█"


def buckets(data: Sequence[float], count: int) -> list[Sequence[float]]:
    """``data`` split into ``count`` consecutive slices of (nearly) equal length."""
    n = len(data)
    edges = [n * i // count for i in range(count + 1)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a]


def metric_text(values: Sequence[float], warning: float, critical: float) -> Text:
    """``now 42% max 95%``, each figure coloured by the threshold it crosses."""
    if not values:
        return Text("no samples", style="dim")
    now, top = values[-1], max(values)
    out = Text("now ")
    out.append(f"{now:3.0f}%", style=level_style(level_of(now, warning, critical)))
    out.append("  max ")
    out.append(f"{top:3.0f}%", style=level_style(level_of(top, warning, critical)))
    return out


class PercentSparkline(Sparkline):
    """A sparkline on a fixed 0-100 % scale, each bar coloured by the threshold it crosses.

    Textual's own scale stretches from the data's minimum to its maximum, which
    draws a steady 61 % disk as empty and a 10-12 % CPU wobble as a storm; for
    usage percentages the absolute height is the message.
    """

    def __init__(self, *, warning: float, critical: float, id: str | None = None) -> None:
        super().__init__([], id=id)
        self.warning = warning
        self.critical = critical

    def render(self) -> Text:
        data = list(self.data or [])
        width = self.size.width
        out = Text(no_wrap=True, overflow="crop")
        if not data or width <= 0:
            return Text("·" * max(width, 0), style="dim")
        # One bar per column, each the peak of its slice of the data.
        for part in buckets(data, min(width, len(data))):
            value = max(part)
            index = min(len(BARS) - 1, max(0, round(value / 100 * (len(BARS) - 1))))
            out.append(BARS[index], style=bar_style(level_of(value, self.warning, self.critical)))
        out.pad_left(width - len(out))  # the newest sample sits next to its figure
        return out


class SystemPanel(Widget):
    """Three rows: CPU, memory and disk use over the range, as sparklines.

    Bars are drawn on a 0-100 % scale, green below the warning threshold,
    yellow from it and red from the critical one; a row's label takes the
    colour of its peak, and the figures on the right (latest and peak) are
    coloured the same way.  The thresholds are the health settings'.
    """

    DEFAULT_CSS = """
    SystemPanel {
        height: auto;
    }
    SystemPanel .metric-row {
        height: 1;
    }
    SystemPanel .metric-label {
        width: 8;
        color: $text-muted;
    }
    SystemPanel Sparkline {
        width: 1fr;
        height: 1;
    }
    SystemPanel .metric-value {
        width: 20;
        padding-left: 1;
    }
    SystemPanel .-warning .metric-label {
        color: $warning;
    }
    SystemPanel .-critical .metric-label {
        color: $error;
        text-style: bold;
    }
    """

    def __init__(
        self,
        *,
        warning: float = _DEFAULTS.warning,
        critical: float = _DEFAULTS.critical,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.warning = warning
        self.critical = critical
        self.data: dict[str, list[float]] = {m: [] for m in METRICS}
        self.tooltip = f"Yellow from {warning:g}% (warning), red from {critical:g}% (critical)"

    def compose(self) -> ComposeResult:
        for metric in METRICS:
            with Horizontal(classes="metric-row -ok", id=f"row-{metric}"):
                yield Static(Text(_METRIC_LABELS[metric]), classes="metric-label")
                yield PercentSparkline(warning=self.warning, critical=self.critical, id=f"spark-{metric}")
                yield Static(Text(""), classes="metric-value", id=f"value-{metric}")

    def on_mount(self) -> None:
        self._show()

    def set_data(self, data: dict[str, list[float]]) -> None:
        """Show ``data`` from :func:`logconsole.store.stats.system_series`
        (the same figures again repaint nothing)."""
        data = {m: list(data.get(m, [])) for m in METRICS}
        if data == self.data:
            return
        self.data = data
        if self.is_mounted:
            self._show()

    def _show(self) -> None:
        for metric in METRICS:
            values = self.data[metric]
            level = level_of(max(values) if values else None, self.warning, self.critical)
            row = self.query_one(f"#row-{metric}", Horizontal)
            for name in ("ok", "warning", "critical"):
                row.set_class(name == level, f"-{name}")
            self.query_one(f"#spark-{metric}", Sparkline).data = values
            self.query_one(f"#value-{metric}", Static).update(
                metric_text(values, self.warning, self.critical)
            )


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:,.0f} ms"


def _rate(rate: float) -> Text:
    style = "bold red" if rate >= 0.10 else "yellow" if rate > 0 else ""
    return Text(f"{rate * 100:.1f}%", style=style, justify="right")


class AIPanel(Widget):
    """Per AI model: calls, tokens, p50/p95 latency and error rate, busiest first."""

    DEFAULT_CSS = """
    AIPanel {
        height: auto;
    }
    AIPanel DataTable {
        height: auto;
        max-height: 8;
    }
    AIPanel #ai-empty {
        color: $text-muted;
    }
    """

    COLUMNS = ("model", "calls", "tokens", "p50", "p95", "errors")

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data: list[ModelStats] = []

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(cursor_type="none", show_cursor=False, id="ai-table")
        for column in self.COLUMNS:
            table.add_column(Text(column, justify="left" if column == "model" else "right"), key=column)
        yield table
        yield Static(Text("No AI calls in this range."), id="ai-empty")

    def on_mount(self) -> None:
        self._show()

    def set_data(self, data: Sequence[ModelStats]) -> None:
        """Show ``data`` from :func:`logconsole.store.stats.ai_models`
        (the same figures again repaint nothing)."""
        if list(data) == self.data:
            return
        self.data = list(data)
        if self.is_mounted:
            self._show()

    def _show(self) -> None:
        table = self.query_one("#ai-table", DataTable)
        table.clear()
        for s in self.data:
            table.add_row(
                Text(visible(s.model, newlines=False)),
                Text(f"{s.calls:,}", justify="right"),
                Text(f"{s.tokens:,}", justify="right"),
                Text(_ms(s.p50_ms), justify="right"),
                Text(_ms(s.p95_ms), justify="right"),
                _rate(s.error_rate),
            )
        table.display = bool(self.data)
        self.query_one("#ai-empty", Static).display = not self.data
