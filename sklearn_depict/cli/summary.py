"""The ranking ``sklearn-depict explain`` prints: one line per concept, then the counts."""

from __future__ import annotations

from typing import Any

from ..formatting import fixed
from ..reporting.verdicts import format_checks

__all__ = ["format_ranking"]


def format_ranking(table: Any, first: Any) -> str:
    """The ranking of importances.csv, the checks, the image counts, an anytime stop."""
    lines = []
    for metric, part in table.groupby("metric", sort=False):
        lines.append(f"Concept importance ({metric}; drop in score when permuted):")
        width = max(len(str(c)) for c in part.concept) + 2
        for _, row in part.iterrows():
            figures = (
                f"{fixed(row.importance_mean):>9}  [{fixed(row.ci_low)}, {fixed(row.ci_high)}]"
            )
            if row.get("constant", False):  # 0 by construction: not a finding
                figures = "   constant in this table"
            lines.append(f"  {int(row['rank']):>3}  {str(row.concept):<{width}}{figures}")
    lines += format_checks(first.get("diagnostics"))
    lines.append(
        f"Images: {first.n_images_generated} generated, {first.n_images_cached} from the cache "
        f"({first.n_images_distinct} distinct)"
    )
    trace = first.get("anytime_trace")
    if trace is not None:
        settled = ("the intervals settled" if first.stopped_early
                   else "the rows ran out first")
        lines.append(
            f"Anytime: {first.n_samples_used} of {trace.n_samples_total} rows used "
            f"({trace.n_images[-1]} of {trace.n_images_total} distinct images); "
            f"{settled} (widest half-width {fixed(trace.max_half_widths[-1])}, "
            f"tol {trace.tol:g})"
        )
    return "\n".join(lines)
