"""What a learner sees: notebook 07 in JupyterLab in a real (headless) Chromium, its temperature slider live.

The widgets' static fallback is tested in test_viz.py; this proves the live path end to end: JupyterLab serves a
working copy of the notebook, Chromium runs all cells, the ipywidgets front end draws the sliders, and moving the
temperature slider makes the kernel redraw the figure and the sample. A screenshot lands in tests/output/.
Chromium is Debian's `chromium` package (.ci/run installs it); Playwright drives it, no browser download needed.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = next((ROOT / "notebooks").glob("07_*.ipynb"))
OUTPUT = Path(__file__).parent / "output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "genlib-browser-test"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: `apt-get install chromium` (.ci/run does it)"),
    pytest.mark.skipif(sync_playwright is None, reason="needs Playwright: `pip install -e '.[test]'`"),
]


def _free_port() -> int:
    """A localhost port nothing listens on now (the OS picks it), so parallel runs do not collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free localhost port, serving a copy of notebook 07 with live widgets; yields its URL."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    port = _free_port()
    # The live path: no GENLIB_STATIC (sliders), no Agg backend (the kernel's inline figures), one torch thread
    # (the machine is shared); Jupyter's config, settings and workspaces in tmp_path so nothing of the user's leaks.
    env = {k: v for k, v in os.environ.items() if k not in ("GENLIB_STATIC", "GENLIB_STATIC_PROGRESS", "MPLBACKEND")}
    env.update(OMP_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"))
    labconfig = tmp_path / "cfg" / "labconfig"  # no "get Jupyter news?" toast over the screenshot
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text('{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
                             "--LabApp.expose_app_in_browser=True", "--allow-root"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


SLIDER = ".widget-slider:has(.widget-label:text-is('temperature'))"
# In the slider cell's output area: the figure and sample drawn at the defaults, then the widgets' own output area.
# Returns [a short fingerprint of the image (its length and FNV-1a hash), the sample text]; textContent, not
# innerText, as JupyterLab does not lay out cells scrolled out of view.
READ = """(cell, where) => {
    const area = where === 'live' ? cell.querySelector('.widget-output') : cell.querySelector('.jp-Cell-outputArea');
    const img = area && area.querySelector('img');
    const pre = area && area.querySelector('.jp-OutputArea-output pre');
    let h = 0x811c9dc5;
    const src = img ? img.src : '';
    for (let i = 0; i < src.length; i++) h = Math.imul(h ^ src.charCodeAt(i), 0x01000193) >>> 0;
    return [src ? src.slice(0, 15) + src.length + ':' + h.toString(16) : '', pre ? pre.textContent.trim() : ''];
}"""
# Runs every cell; the command resolves when all have run (false if one raised), bounded here at two minutes.
RUN_ALL = """Promise.race([window.jupyterapp.commands.execute('notebook:run-all-cells'),
    new Promise((_, fail) => setTimeout(() => fail(new Error('notebook 07 still running after 120 s')), 120000))])"""
KERNEL_IDLE = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"


def _redrawn(page, cell, before: list[str]) -> list[str]:
    """Wait until the live output shows a figure and sample other than `before` and the kernel is idle again."""
    page.wait_for_function(f"([cell, before]) => ({READ})(cell, 'live')[0] !== '' && "
                           f"({READ})(cell, 'live').join('|') !== before.join('|')", arg=[cell.element_handle(), before])
    page.wait_for_function(KERNEL_IDLE)
    return cell.evaluate(READ, "live")


def test_notebook_07_temperature_slider_redraws_figure_and_sample(lab):
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{lab}/lab/tree/{NOTEBOOK.name}?token={TOKEN}")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session")
            page.wait_for_function(KERNEL_IDLE)
            assert page.evaluate(RUN_ALL), "a cell of notebook 07 raised in JupyterLab (open it in Jupyter to see which)"
            slider = page.locator(SLIDER)
            cell = page.locator(".jp-CodeCell").filter(has=slider)
            readout = slider.locator(".widget-readout")
            expect(readout).to_have_text("1.00")
            label = slider.locator(".widget-label")
            assert label.evaluate("l => l.scrollWidth <= l.clientWidth"), "the slider's name is cut off in its label"
            static = cell.evaluate(READ, "static")
            assert static[0].startswith("data:image/png") and static[1], f"no default figure and sample: {static}"
            assert cell.evaluate(READ, "live") == ["", ""], "the widgets' output is empty until a slider moves"

            handle = slider.locator(".noUi-handle")
            handle.scroll_into_view_if_needed()
            handle.press("PageUp")  # five steps of 0.1 as one change, so the kernel redraws once
            expect(readout).to_have_text("1.50")
            hot = _redrawn(page, cell, ["", ""])
            page.wait_for_timeout(1500)  # let Chromium paint the new figure: the screenshot is for people to look at
            page.screenshot(path=str(OUTPUT / "notebook_07_slider.png"))
            print("T = 1.0:", static, "\nT = 1.5:", hot)
            assert hot[0].startswith("data:image/png") and hot[0] != static[0], "the figure did not change"
            assert hot[1] and hot[1] != static[1], "the sample did not change"

            handle.press("PageDown")  # back to the default: the kernel redraws exactly the default figure and sample
            expect(readout).to_have_text("1.00")
            back = _redrawn(page, cell, hot)
            assert back == static, "moving the slider back to 1.0 should redraw the default figure and sample"
        finally:
            browser.close()
