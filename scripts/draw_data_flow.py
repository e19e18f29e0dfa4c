"""Draw the data-flow picture of docs/architecture.rst (docs/_static/data_flow.png).

Run ``python scripts/draw_data_flow.py`` after changing the engine's layout.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

# Numbered as the comments of sklearn_depict/_engine/run.py number the stages.
STAGES = [
    ("1. concept table", "validated once:\nConceptTable", "concepts.py"),
    ("2. captions", "one call for\nall rows", "captioning.py"),
    ("3. plan", "distinct (caption,\nseed) pairs", "_engine/plan.py"),
    ("4. generate,\ncached", "each pair once", "_engine/generate.py\ngenerators/, cache.py"),
    ("5. predict", "each image once", "_engine/execute.py"),
    ("6. score", "replay stored\npredictions", "_engine/score.py"),
    ("7. intervals", "row bootstrap,\np-values, ranking", "intervals.py"),
    ("8. result", "sklearn Bunch", "_engine/run.py"),
]
ENGINE = range(2, 6)


def main(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(14.8, 3.6))
    width, gap, top = 1.6, 0.35, 2.2
    for i, (title, what, module) in enumerate(STAGES):
        x = i * (width + gap)
        colour = "#e8f0fb" if i in ENGINE else "#f2f2f2"
        ax.add_patch(FancyBboxPatch((x, top - 1.2), width, 1.2, boxstyle="round,pad=0.04",
                                    fc=colour, ec="#334"))
        ax.text(x + width / 2, top - 0.3, title, ha="center", va="center", weight="bold",
                fontsize=10)
        ax.text(x + width / 2, top - 0.72, what, ha="center", va="center", fontsize=8.5)
        ax.text(x + width / 2, top - 1.05, module, ha="center", va="center", fontsize=7.5,
                family="monospace", color="#555")
        if i:
            ax.add_patch(FancyArrowPatch((x - gap + 0.02, top - 0.6), (x - 0.02, top - 0.6),
                                         arrowstyle="-|>", mutation_scale=14, color="#333"))
    first, last = ENGINE[0] * (width + gap), ENGINE[-1] * (width + gap) + width
    ax.plot([first, first, last, last], [0.9, 0.8, 0.8, 0.9], color="#334", lw=1)
    ax.text(first + width + gap / 2, 0.5, "the engine (sklearn_depict/_engine), frozen values:\n"
            "prepare -> RunInputs, gather -> Predictions,\nscore -> Scores, finish -> result",
            ha="center", va="center", fontsize=8.5)
    checks_x = 4 * (width + gap)
    ax.add_patch(FancyBboxPatch((checks_x, -0.45), 2 * width + gap, 0.7,
                                boxstyle="round,pad=0.04", fc="#fdf3e3", ec="#a63"))
    ax.text(checks_x + width + gap / 2, 0.02, "checks (diagnostics.py)", ha="center",
            weight="bold", fontsize=9.5)
    ax.text(checks_x + width + gap / 2, -0.28, "pure functions of ids, probabilities, "
            "labels and scores", ha="center", fontsize=8)
    for source in (checks_x, checks_x + width + gap):
        ax.add_patch(FancyArrowPatch((source + width / 2, 0.95), (source + width / 2, 0.3),
                                     arrowstyle="-|>", mutation_scale=12, color="#a63", ls="--"))
    ax.text(0, -0.3, "Every entry point (depict_importance, depict_diagnostics,\n"
            "cross_validate_importance, CaptionToImage) drives the same engine;\n"
            "scoring never reaches back into generation.", fontsize=8.5, va="center")
    ax.set_xlim(-0.15, len(STAGES) * (width + gap) - gap + 0.15)
    ax.set_ylim(-0.6, top + 0.15)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "docs" / "_static" / "data_flow.png")
