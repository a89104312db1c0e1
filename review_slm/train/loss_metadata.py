"""The loss curve of a training asset, as the Dagster UI shows it: the headline numbers inline, the chart
one click away.

Numbers first (`first_loss`, `final_loss`, `min_loss`, `min_loss_step`): they render in the metadata
table and the UI's Plots tab charts them across iterations. The chart is Markdown with an embedded PNG,
which the UI opens behind "[Show Markdown]" (it inlines Markdown under 1,000 characters only, and
Dagster 1.13 has no image metadata type), and a link to the same PNG in the MLflow run.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from review_slm.training.plots import loss_figure, markdown_image, png_bytes

_SHOWN_COLUMNS = ("loss", "grad_norm", "learning_rate", "rewards_accuracies", "reward")
_TABLE_ROWS = 20


def loss_metadata(history: list[dict], stage: str, plot_url: str) -> dict[str, Any]:
    """Empty when no step logged a loss. `plot_url`: where the trainer logged the chart (the MLflow run)."""
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    if not losses:
        return {}
    min_step, min_loss = min(losses, key=lambda point: point[1])
    return {
        "first_loss": round(losses[0][1], 4),
        "final_loss": round(losses[-1][1], 4),
        "min_loss": round(min_loss, 4),
        "min_loss_step": min_step,
        "loss_plot": dg.MetadataValue.md(markdown_image(png_bytes(loss_figure(history, stage)), f"{stage} loss")),
        "loss_plot_mlflow": dg.MetadataValue.url(plot_url),
        "loss_curve": loss_table(history, every=max(1, len(history) // _TABLE_ROWS)),
    }


def loss_table(history: list[dict], every: int = 1) -> dg.MetadataValue:
    """Every `every`-th logged step: loss, grad norm, learning rate and the method's reward columns."""
    keys = [k for k in _SHOWN_COLUMNS if any(k in h for h in history)]
    lines = ["| step | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for h in history[::every]:
        lines.append(f"| {h['step']} | " + " | ".join(f"{h[k]:.4g}" if k in h else "" for k in keys) + " |")
    return dg.MetadataValue.md("\n".join(lines))
