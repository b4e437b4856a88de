import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genlib import viz  # noqa: E402


def test_make_grid_places_each_image():
    imgs = torch.zeros(5, 1, 2, 3)
    for i in range(5):
        imgs[i] = i / 4
    grid = viz.make_grid(imgs, nrow=3, pad=1)
    assert grid.shape == (1, 2 * 3 + 1, 3 * 4 + 1)
    assert grid[0, 1, 1] == 0 and grid[0, 1, 5] == 0.25 and grid[0, 4, 5] == 1.0  # image 0, 1, 4
    assert grid[0, 0, 0] == 1  # padding is white


def test_bad_images_are_rejected_with_advice():
    with pytest.raises(ValueError, match=r"\[N, H, W\] or \[N, C, H, W\]"):
        viz.make_grid(torch.zeros(2, 5, 4, 4))
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        viz.make_grid(-torch.ones(2, 1, 4, 4))


def test_smooth_is_a_running_mean():
    assert viz.smooth([1, 2, 3, 4], window=2) == [1, 1.5, 2.5, 3.5]


def test_plots_have_titles_and_labels():
    ax = viz.loss_curves({"train": [3, 2, 1], "val": ([0, 2], [3, 1.5])}, title="Loss")
    assert ax.get_title() == "Loss" and ax.get_xlabel() == "step" and len(ax.lines) == 2
    ax = viz.scatter2d({"data": torch.randn(10, 2)}, title="pts")
    assert ax.get_title() == "pts" and ax.get_xlabel()
    ax = viz.density2d(lambda x: -x.pow(2).sum(1), lim=2, n=20, title="d")
    assert ax.get_title() == "d" and ax.get_ylabel()
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        viz.scatter2d(torch.randn(10, 3))
    plt.close("all")


def test_slider_plot_draws_static_figure_outside_a_kernel():
    calls = []
    viz.slider_plot(lambda temperature, steps: calls.append((temperature, steps)), temperature=(0.1, 2.0, 0.1, 1.0),
                    steps=(1, 50, 1, 10))
    assert calls == [(1.0, 10)] and not viz.widgets_available()
    with pytest.raises(ValueError, match="min <= default <= max"):
        viz.slider_plot(lambda t: None, t=(0.0, 1.0, 0.1, 2.0))


def test_figures_are_sharp_and_images_unsmoothed():
    import io
    fig = plt.figure(figsize=(2, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    width = int.from_bytes(buffer.getvalue()[16:20], "big")     # PNG header: width in pixels
    assert viz.FIGURE_DPI >= 100 and width == 2 * viz.FIGURE_DPI
    ax = viz.show_images(torch.rand(4, 1, 28, 28), nrow=4)
    assert ax.images[0].get_interpolation() == "nearest"
    plt.close("all")


# -- progress bars that survive in a saved notebook ------------------------------------------------------------

def test_static_progress_prints_only_the_final_state(monkeypatch, capsys):
    from genlib.progress import progress
    monkeypatch.setenv("GENLIB_STATIC_PROGRESS", "1")
    assert sum(progress(range(150), desc="steps")) == sum(range(150))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "100%" in out and "150/150" in out and out.startswith("steps: 100%") and " 0/150" not in out
    bar = progress(total=40, desc="manual")           # the update/close style, as a training loop uses it
    bar.update(10)
    bar.close()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "10/40" in out and "25%" in out
    list(progress(range(5), leave=False))             # a transient bar leaves no trace
    assert capsys.readouterr().out.strip() == ""


def test_progress_is_tqdm_auto_without_the_variable(monkeypatch):
    from tqdm.auto import tqdm
    from genlib.progress import FinalLineBar, progress
    monkeypatch.delenv("GENLIB_STATIC_PROGRESS", raising=False)
    bar = progress(range(3), disable=True)
    assert isinstance(bar, tqdm) and not isinstance(bar, FinalLineBar)
    assert list(bar) == [0, 1, 2]


def test_slider_plot_says_what_a_live_run_adds_when_static_is_forced(monkeypatch, capsys):
    monkeypatch.setenv("GENLIB_STATIC", "1")
    viz.slider_plot(lambda temperature: None, temperature=(0.1, 2.0, 0.1, 1.0))
    assert "sliders for temperature" in capsys.readouterr().out
