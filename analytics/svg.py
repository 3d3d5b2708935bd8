"""Static inline SVG charts for the HTML report: drawn once in Python, so the page needs no script, no font
download and no network to show them, and looks the same opened from a file share or an email attachment."""

from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#3b6ea8", "#e07b39", "#2e8b57", "#8e44ad", "#c0392b", "#7f8c8d", "#16a085")
WIDTH = 860
LABEL_CHARS = 40  # a bar's label, cut with an ellipsis beyond it (the table under the chart has it whole)
TICK_LABELS = 16  # at most this many category labels under an axis; more would overlap


def _text(x: float, y: float, label: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(label)}</text>'


def hbars(labels: Sequence[str], values: Sequence[float], caption: Callable[[float], str], title: str) -> str:
    """One horizontal bar per label, its value written after it; negative values go left of the axis."""
    row, left, right = 24, 270, 120
    height = row * len(labels) + 30
    low, high = min(0.0, *values) if values else 0.0, max(0.0, *values) if values else 0.0
    span = (high - low) or 1.0
    scale = (WIDTH - left - right) / span
    zero = left + (-low) * scale
    parts = [_text(4, 16, title, font_weight="bold")]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 26 + i * row
        x, w = (zero, value * scale) if value >= 0 else (zero + value * scale, -value * scale)
        colour = PALETTE[0] if value >= 0 else PALETTE[4]
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        parts.append(_text(left - 6, y + 14, short, text_anchor="end", font_size="11"))
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{colour}"/>'
        )
        parts.append(_text(max(x + w, zero) + 6, y + 14, caption(value)))
    parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="24" y2="{height - 4}" stroke="#333"/>')
    return _svg(height, title, parts)


def lines(
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    axis: Callable[[float], str],
    title: str,
) -> str:
    """One line per series over the categories (periods, in order); None is a gap, not a zero."""
    top, bottom, left, right = 28, 70, 70, 130
    height = 320
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [v for vs in series.values() for v in vs if v is not None]
    high = max(values, default=0.0) or 1.0
    step = plot_w / max(len(categories) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot_h - v / high * plot_h

    parts = [_text(4, 16, title, font_weight="bold")]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(_text(left - 6, y + 4, axis(high * fraction), text_anchor="end", font_size="11"))
    every = max(1, -(-len(categories) // TICK_LABELS))  # every n-th category labelled, n rounded up
    for i in range(0, len(categories), every):
        x, y = left + i * step, top + plot_h + 14
        parts.append(
            _text(
                x,
                y,
                categories[i],
                font_size="11",
                text_anchor="end",
                transform=f"rotate(-45 {x:.1f} {y:.1f})",
            )
        )
    for n, (name, vs) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
                continue
            x, y = xy(i, v)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        parts.extend(
            f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            for run in runs
            if run
        )
        parts.append(
            f'<rect x="{WIDTH - right + 12}" y="{top + n * 18}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(_text(WIDTH - right + 28, top + n * 18 + 9, name, font_size="12"))
    return _svg(height, title, parts)


def _svg(height: float, title: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="12">{"".join(parts)}</svg>'
    )
