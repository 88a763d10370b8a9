"""How the console's templates write times and numbers (UTC, epoch ms in the stores)."""

from __future__ import annotations

from datetime import UTC, datetime


def when(ms: int | float | None, day_only: bool = False) -> str:
    """Epoch ms as UTC text, '—' for none."""
    if ms is None:
        return "—"
    moment = datetime.fromtimestamp(float(ms) / 1000, UTC)
    return moment.strftime("%Y-%m-%d" if day_only else "%Y-%m-%d %H:%M:%S UTC")


def age(seconds: int | float | None) -> str:
    """A duration in its largest sensible unit: 42 s, 7 min, 3.5 h, 2.0 d."""
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def num(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


HELPERS = {"when": when, "age": age, "num": num}
