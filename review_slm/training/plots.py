"""Charts people look at instead of reading numbers: the loss curve of a training stage.

Drawn once here and used twice: the trainer logs it to its MLflow run (`loss_plot_artifact`), and the
asset embeds it in its Dagster metadata (a base64 PNG in Markdown) and links the logged one.
"""

from __future__ import annotations

import base64
import io


def loss_plot_artifact(stage: str) -> str:
    """Where in its MLflow run the trainer logs the loss curve of `stage`."""
    return f"plots/{stage}_loss.png"


def loss_figure(history: list[dict], stage: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    points = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ax.plot([s for s, _ in points], [v for _, v in points], marker="o", markersize=2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{stage} training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def png_bytes(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
