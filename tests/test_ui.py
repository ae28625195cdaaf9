"""What we log, read in the MLflow UI by a real headless Chromium (and `python -m runner.ui`).

The browser steps are scripts/screenshots.py's, the same code that makes the README's images;
here they run against a fresh sweep and the rendered pages are checked.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "screenshots.py"
CHROMIUM = "/usr/bin/chromium"


def _load_screenshots():
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM} (apt-get install chromium)")
@pytest.mark.skipif(
    importlib.util.find_spec("playwright") is None, reason="no playwright (pip install playwright)"
)
def test_the_mlflow_ui_shows_the_sweep(tmp_path):
    from playwright.sync_api import expect

    shots = _load_screenshots()
    sweep = shots.run_sweep(tmp_path)
    assert "seeds 1..20" in sweep.parent_name
    assert len(sweep.child_ids) == 20
    seed7 = "sigmoid · seed 7"
    assert seed7 in sweep.child_names

    with shots.mlflow_server(sweep) as base, shots.chromium(tmp_path) as browser:
        pages = shots.capture(browser, base, sweep, tmp_path)

        # the experiment page: the parent by name, its seeds once expanded, their columns
        page, _ = pages["experiment"]
        expect(page.get_by_text(sweep.parent_name, exact=True)).to_be_visible()
        for name in (seed7, sweep.child_names[0], sweep.child_names[-1]):
            expect(page.get_by_text(name, exact=True)).to_be_visible()
        for col in ("metrics.`accuracy`", "params.`w.weight_kg`", "params.`bias`"):
            expect(page.locator(f'.ag-header-cell[col-id="{col}"]')).to_be_visible()

        # the parent's page opens on its description: the luck summary in markdown
        page, _ = pages["description"]
        expect(page.get_by_role("heading", name="How much is luck?")).to_be_visible()
        expect(page.get_by_text("The seed moves accuracy")).to_be_visible()
        expect(page.get_by_text("Expected best accuracy of k seeds")).to_be_visible()

        # the compare view of the seeds: weights and bias against accuracy, and the params table
        page, _ = pages["compare"]
        expect(page.get_by_text("Comparing 20 Runs")).to_be_visible()
        for name in ("w.height_ft", "w.weight_kg", "bias", "accuracy"):
            expect(page.locator("text.axis-title", has_text=name)).to_be_visible()
        for name in ("w.height_ft", "w.weight_kg", "bias", "seed"):
            expect(page.get_by_role("rowheader", name=name, exact=True).first).to_be_attached()
        expect(page.get_by_role("link", name="accuracy", exact=True)).to_be_attached()

        # ... and a scatter plot of a weight against accuracy
        page, _ = pages["scatter"]
        expect(page.locator("text.xtitle", has_text="w.weight_kg")).to_be_visible()
        expect(page.locator("text.ytitle", has_text="accuracy")).to_be_visible()
        plot = page.locator(".js-plotly-plot:visible")  # WebGL points: ask the plot itself
        assert plot.evaluate("el => el.data.map(t => t.x.length)") == [20]

        # one seed's predictions open as a table
        page, _ = pages["predictions"]
        expect(page.get_by_text(seed7, exact=True).first).to_be_visible()
        for col in ("height_ft", "weight_kg", "z", "y_hat", "predicted", "correct"):
            header = page.get_by_role("columnheader").filter(has_text=re.compile(rf"^{col}$"))
            expect(header).to_be_attached()

    for name in shots.VIEWS:
        png = tmp_path / f"{name}.png"
        assert png.stat().st_size > 10_000, png
        print(f"saved {png}")
    assert {p.name for p in shots.copy_plots(sweep, tmp_path)} >= {"accuracy.png"}


HOSTILE = ("![pixel](http://127.0.0.1:9/pixel.png) <img src='http://127.0.0.1:9/i.png'> "
           "[click](http://127.0.0.1:9/x) www.example.com *bold* | cell ~~no~~ _u_ & &amp; # h")


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM} (apt-get install chromium)")
@pytest.mark.skipif(
    importlib.util.find_spec("playwright") is None, reason="no playwright (pip install playwright)"
)
def test_user_text_in_the_description_is_shown_as_text(tmp_path):
    # Issue 15, item 7: labels and dataset names went into the markdown unescaped, so the UI
    # fetched remote images and made links out of them.
    from playwright.sync_api import expect

    shots = _load_screenshots()
    quoted = HOSTILE.replace("'", "\\'")
    sweep = shots.run_sweep(tmp_path, ["seed=1..3",
                                       f"dataset.highlight_label='{quoted}'",
                                       f"dataset.name='{quoted}'"])
    with shots.mlflow_server(sweep) as base, shots.chromium(tmp_path) as browser:
        page = browser.new_context().new_page()
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        shots.show_description(page, base, sweep)
        note = page.get_by_text("call", exact=False).filter(has_text="127.0.0.1:9").first
        expect(note).to_be_visible()
        body = page.locator("body")
        assert body.locator("img[src*='127.0.0.1:9']").count() == 0
        assert body.locator("a[href*='127.0.0.1:9']").count() == 0
        assert body.locator("a[href*='example.com']").count() == 0
        text = note.inner_text()
        assert "![pixel](http://127.0.0.1:9/pixel.png)" in text, text
        assert "<img src='http://127.0.0.1:9/i.png'>" in text
        assert "*bold* | cell ~~no~~ _u_ & &amp; # h" in text
    assert not [u for u in requested if "127.0.0.1:9/" in u]


def test_runner_ui_command_is_localhost_on_the_default_store(tmp_path, monkeypatch, capsys):
    from runner import ui

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ui.main(["--print-command"])
    line = capsys.readouterr().out.strip()
    assert line.endswith(
        f"-m mlflow ui --backend-store-uri sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
        " --host 127.0.0.1 --port 5000"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert ui.command(8080)[-5:] == [
        f"sqlite:///{tmp_path.resolve() / 'elsewhere.db'}", "--host", "127.0.0.1", "--port", "8080",
    ]


@pytest.mark.slow
def test_python_m_runner_ui_prints_a_localhost_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "runner.ui", "--print-command", "--port", "5123"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert " mlflow ui " in line
    assert "--host 127.0.0.1" in line and "--port 5123" in line
    assert f"--backend-store-uri sqlite:///{tmp_path.resolve() / 'mlflow.db'}" in line
