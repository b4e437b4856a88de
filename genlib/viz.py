"""Pictures for the notebooks: image grids, loss curves, 2-D scatter and density plots, sliders with a static fallback."""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch

# 100 dpi (matplotlib's own default) keeps text and lines sharp; 72 looked soft. "nearest" shows each image pixel
# as a crisp block: smoothing small images (28x28 digits) blurs them AND makes their PNGs 3-4x larger, so the
# committed notebooks stay small (each well under 1.5 MB) even at the higher dpi.
FIGURE_DPI = 100
plt.rcParams.update({"figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI, "figure.autolayout": True,
                     "image.interpolation": "nearest"})


def _as_images(images: torch.Tensor) -> torch.Tensor:
    """Check and reshape to [N, C, H, W] with C in (1, 3), values in [0, 1]."""
    images = torch.as_tensor(images).detach().float().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W] or [N, C, H, W] with C = 1 or 3, got shape {tuple(images.shape)}")
    lo, hi = images.min().item(), images.max().item()
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"image values must lie in [0, 1], got [{lo:.3f}, {hi:.3f}]; map [-1, 1] data with (x + 1) / 2")
    return images.clamp(0, 1)


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> torch.Tensor:
    """Tile [N, C, H, W] images into one [C, rows*(H+pad)+pad, nrow*(W+pad)+pad] image (white padding)."""
    images = _as_images(images)
    n, c, h, w = images.shape
    nrow = max(1, min(nrow, n))
    rows = (n + nrow - 1) // nrow
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    return grid


def show_images(images: torch.Tensor, nrow: int = 8, title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Draw images as one grid with a title (axes hidden: pixels have no units)."""
    grid = make_grid(images, nrow)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 0.9 * grid.shape[2] / 28 + 1), min(12, 0.9 * grid.shape[1] / 28 + 0.6)))
    ax.imshow(grid.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return ax


def smooth(values: Sequence[float], window: int = 20) -> list[float]:
    """Running mean over `window` points, so a noisy loss curve shows its trend."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def loss_curves(curves: Mapping[str, Sequence[float] | tuple[Sequence[int], Sequence[float]]], title: str = "Training loss",
                ylabel: str = "loss", xlabel: str = "step", window: int = 1, logy: bool = False,
                ax: plt.Axes | None = None) -> plt.Axes:
    """Plot named curves; each is a list of values (x = index) or a pair (steps, values)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, curve in curves.items():
        xs, ys = curve if isinstance(curve, tuple) else (range(len(curve)), curve)
        ax.plot(list(xs), smooth(list(ys), window) if window > 1 else list(ys), label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def scatter2d(points: Mapping[str, torch.Tensor] | torch.Tensor, title: str = "", ax: plt.Axes | None = None,
              s: float = 3, lim: float | None = None) -> plt.Axes:
    """Scatter one or several named [N, 2] point sets on equal axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    sets = points if isinstance(points, Mapping) else {"": points}
    for name, p in sets.items():
        p = torch.as_tensor(p).detach().cpu()
        if p.dim() != 2 or p.shape[1] != 2:
            raise ValueError(f"points must be [N, 2], got {tuple(p.shape)} for {name!r}; scatter2d draws 2-D "
                             "points: pick two coordinates with p[:, :2], or project to 2-D first (e.g. torch.pca_lowrank)")
        ax.scatter(p[:, 0].numpy(), p[:, 1].numpy(), s=s, alpha=0.6, label=name or None)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    if lim is not None:
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim))
    if any(sets.keys()):
        ax.legend(markerscale=3, fontsize=8)
    return ax


def density2d(log_prob: Callable[[torch.Tensor], torch.Tensor], lim: float = 3.0, n: int = 150, title: str = "",
              ax: plt.Axes | None = None) -> plt.Axes:
    """Heat map of exp(log_prob) over the square [-lim, lim]^2."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    xs = torch.linspace(-lim, lim, n)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        p = log_prob(grid).exp().reshape(n, n)
    ax.imshow(p.numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma")
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    return ax


def widgets_available() -> bool:
    """True inside a live IPython kernel with ipywidgets installed, unless GENLIB_STATIC=1 asks for static output."""
    if os.environ.get("GENLIB_STATIC") == "1":
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def slider_plot(draw: Callable[..., Any], **sliders: tuple[float, float, float, float]) -> None:
    """Call `draw(**values)` at the defaults as a static figure, then add sliders that redraw it when moved.

    Each slider is (min, max, step, default). Where widgets cannot render (GitHub, nbval, a terminal) the
    static figure is what the reader sees, so the notebook still reads well.
    """
    for name, spec in sliders.items():
        if len(spec) != 4 or not spec[0] <= spec[3] <= spec[1]:
            raise ValueError(f"slider {name!r} must be (min, max, step, default) with min <= default <= max, got {spec}")
    defaults = {name: spec[3] for name, spec in sliders.items()}
    draw(**defaults)
    plt.show()
    if not widgets_available():
        if os.environ.get("GENLIB_STATIC") == "1":  # a notebook executed for committing: say what a live run adds
            print(f"(run this cell in Jupyter to get sliders for {', '.join(sliders)})")
        return
    import ipywidgets as widgets
    from IPython.display import display

    # ipywidgets' default label width cuts "temperature" to "temperat..."; this one fits the longest name.
    style = {"description_width": f"{max(len(name) for name in sliders) + 1}ch"}
    controls = {name: (widgets.IntSlider if all(float(v).is_integer() for v in spec) else widgets.FloatSlider)(
        min=spec[0], max=spec[1], step=spec[2], value=spec[3], description=name, continuous_update=False, style=style)
        for name, spec in sliders.items()}
    out = widgets.Output()

    def redraw(_change: Any = None) -> None:
        with out:
            out.clear_output(wait=True)
            draw(**{name: c.value for name, c in controls.items()})
            plt.show()

    for c in controls.values():
        c.observe(redraw, names="value")
    display(widgets.VBox([widgets.HTML("<b>Move a slider to redraw the figure:</b>"), *controls.values(), out]))


def chat_box(reply: Callable[[str, float], Iterable[str]], examples: Sequence[str], temperature: float = 0.0) -> None:
    """A chat window: type a message, see the reply stream in, with a temperature slider.

    `reply(message, temperature)` yields pieces of text. Where widgets cannot render, the replies to `examples`
    are printed instead, so the notebook still shows a conversation.
    """
    for message in examples:
        print(f"you: {message}\nassistant: {''.join(reply(message, temperature))}\n")
    if not widgets_available():
        if os.environ.get("GENLIB_STATIC") == "1":
            print("(run this cell in Jupyter to get a chat box with a temperature slider)")
        return
    import ipywidgets as widgets
    from IPython.display import display

    box = widgets.Text(placeholder="type a message and press Enter", layout={"width": "90%"}, continuous_update=False)
    temp = widgets.FloatSlider(min=0.0, max=2.0, step=0.1, value=temperature, description="temperature",
                               style={"description_width": "12ch"})
    log = widgets.Output()

    def send(change: dict) -> None:
        message = change["new"]
        if not message.strip():
            return
        box.value = ""
        with log:
            print(f"you: {message}\nassistant: ", end="", flush=True)
            try:
                for piece in reply(message, temp.value):
                    print(piece, end="", flush=True)
            except ValueError as error:  # too long, and so on: say it in the chat
                print(f"[{error}]", end="")
            print("\n")

    box.observe(send, names="value")
    display(widgets.VBox([widgets.HTML("<b>Talk to the model:</b>"), box, temp, log]))
