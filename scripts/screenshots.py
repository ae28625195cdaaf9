"""Regenerate the README's MLflow UI screenshots from a real sweep, in a real browser.

    python scripts/screenshots.py              # writes docs/*.png
    python scripts/screenshots.py --out DIR    # somewhere else

It runs `python -m runner seed=1..20 dataset.standardize=true` in a temporary folder, starts
`mlflow server` there on 127.0.0.1, drives Debian's Chromium headless through Playwright, and
saves the experiment page (parent run expanded into its seeds), the parent's description (the
luck summary), the compare view of the seeds (parallel coordinates, and a scatter plot of a
weight against accuracy) and one seed's predictions table, plus the sweep's luck plots.
tests/test_ui.py imports this file and runs the same steps, then asserts on the pages.

Needs `apt-get install chromium` and `pip install playwright` (no `playwright install`: the
browser is Debian's /usr/bin/chromium, started here and stopped by its process id).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SWEEP = ["seed=1..20", "dataset.standardize=true"]
SEED = 7  # the child whose predictions are shown
PARAMS = ["w.height_ft", "w.weight_kg", "bias"]  # what the compare view plots against accuracy
METRIC = "accuracy"
SCATTER_X = "w.weight_kg"
TIMEOUT_MS = 30_000


@dataclass
class Sweep:
    folder: Path  # where `python -m runner` ran
    uri: str
    experiment_id: str
    parent_id: str
    parent_name: str
    child_ids: list[str]  # in seed order
    child_names: list[str]
    run_folder: Path  # Hydra's outputs/<date>/<time>, with plots/


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_sweep(folder: Path, overrides=SWEEP) -> Sweep:
    """Run the project's CLI into `folder` (its own SQLite store) and read back the run ids."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    proc = subprocess.run(
        [sys.executable, "-m", "runner", *overrides, f"tracking.uri={uri}"],
        cwd=folder, env=_clean_env(), capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if len(parents) != 1:
        raise RuntimeError(f"expected one parent run, found {len(parents)}")
    parent = parents[0]
    children = sorted(
        (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
        key=lambda r: int(r.data.params["seed"]),
    )
    plots = sorted((folder / "outputs").glob("*/*/plots"))
    if not plots:
        raise RuntimeError(f"no plots/ folder under {folder / 'outputs'}")
    return Sweep(
        folder=folder, uri=uri, experiment_id=exp.experiment_id,
        parent_id=parent.info.run_id, parent_name=parent.info.run_name,
        child_ids=[r.info.run_id for r in children],
        child_names=[r.info.run_name for r in children],
        run_folder=plots[-1].parent,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, and its children, by process id."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until(ready, proc: subprocess.Popen, what: str, log: Path, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        result = ready()
        if result:
            return result
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{log.read_text()}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextmanager
def mlflow_server(sweep: Sweep):
    """A real `mlflow server` on 127.0.0.1 over the sweep's store; yields its base URL.

    The runs' artifact URIs are absolute paths under <folder>/mlruns, which the server reads.
    """
    port = free_port()
    log = sweep.folder / "mlflow-server.log"
    env = _clean_env()
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # 2 processes instead of ~15
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--workers", "1",
             "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", sweep.uri],
            cwd=sweep.folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _http_ok(f"{base}/health"), proc, "mlflow server", log)
        yield base
    finally:
        _stop(proc)


@contextmanager
def chromium(folder: Path):
    """Debian's Chromium, headless, started here and driven over CDP; yields a Browser."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=folder))
    log = folder / "chromium.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        port = _wait_until(
            lambda: port_file.exists() and port_file.read_text().split("\n")[0].strip(),
            proc, "chromium", log,
        )
        with sync_playwright() as pw:
            browser = pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            try:
                yield browser
            finally:
                browser.close()
    finally:
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)


# --- the pages ---------------------------------------------------------------------------

def _close_assistant(page) -> None:
    """MLflow 3 opens an assistant side panel on first load; it narrows the page."""
    close = page.locator('button[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close.count():
        close.first.click()


def _exact(text: str):
    return re.compile(rf"^{re.escape(text)}$")


def show_experiment(page, base: str, sweep: Sweep) -> None:
    """The runs table: the parent expanded into its seeds, with accuracy and the weights shown."""
    page.set_viewport_size({"width": 1800, "height": 1000})
    page.goto(f"{base}/#/experiments/{sweep.experiment_id}/runs?workflowType=machine_learning")
    page.get_by_text(sweep.parent_name, exact=True).wait_for()
    _close_assistant(page)
    # the parent's expander: the button in its run-name cell
    parent_row = page.locator(".ag-row", has=page.get_by_text(sweep.parent_name, exact=True))
    parent_row.locator('[col-id="attributes.`Run Name`"] button').first.click()
    page.get_by_text(sweep.child_names[0], exact=True).wait_for()
    # metric and param columns are hidden by default: pick them as a person would
    page.get_by_role("button", name="Columns", exact=True).click()
    search = page.get_by_placeholder("Search columns")
    for name in ["Source", "Models", METRIC, "seed", *PARAMS]:  # Source, Models: off (empty)
        search.fill(name)
        node = page.locator(".du-bois-light-tree-treenode").filter(has_text=_exact(name))
        node.first.locator(".du-bois-light-tree-checkbox").click()
    page.keyboard.press("Escape")
    page.locator(f'.ag-header-cell[col-id="metrics.`{METRIC}`"]').wait_for()
    # widen the run-name column so the parent's name is not cut off
    handle = page.locator('.ag-header-cell[col-id="attributes.`Run Name`"] .ag-header-cell-resize')
    box = handle.bounding_box()
    x, y = box["x"] + 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in range(10, 130, 10):
        page.mouse.move(x + dx, y)
    page.mouse.up()
    page.get_by_role("heading", level=2).first.hover()  # off the plot: no labels, no toolbar


def show_description(page, base: str, sweep: Sweep) -> None:
    """The parent's run page, its description (the luck summary) expanded."""
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(
        f"{base}/#/experiments/{sweep.experiment_id}/runs/{sweep.parent_id}"
        "?workflowType=machine_learning"
    )
    page.get_by_text("How much is luck?").first.wait_for()
    _close_assistant(page)
    toggle = page.get_by_test_id("show-comment-toggle")
    if toggle.count() and toggle.inner_text().strip() == "Show more":
        toggle.click()
        page.get_by_text("Show less").wait_for()


def _open_compare(page, base: str, sweep: Sweep) -> None:
    runs = quote(json.dumps(sweep.child_ids))
    exps = quote(json.dumps([sweep.experiment_id]))
    page.goto(f"{base}/#/compare-runs?runs={runs}&experiments={exps}&workflowType=machine_learning")
    page.get_by_role("button", name="Clear All").wait_for()
    _close_assistant(page)
    page.get_by_role("button", name="Run details").click()  # fold it: the params table moves up


def show_compare(page, base: str, sweep: Sweep) -> None:
    """Compare the seeds: parallel coordinates of the weights and bias against accuracy."""
    page.set_viewport_size({"width": 1600, "height": 1100})
    _open_compare(page, base, sweep)
    page.get_by_role("button", name="Clear All").click()
    selects = page.locator(".du-bois-light-select-selector")  # Parameters:, then Metrics:
    for i, names in ((0, PARAMS), (1, [METRIC])):
        selects.nth(i).click()
        for name in names:
            page.locator(".du-bois-light-select-item-option:visible", has_text=_exact(name)).click()
        page.keyboard.press("Escape")
    for name in [*PARAMS, METRIC]:
        page.locator("text.axis-title", has_text=_exact(name)).wait_for()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.get_by_role("heading", level=2).first.hover()  # off the plot: no labels, no toolbar


def show_scatter(page, base: str, sweep: Sweep) -> None:
    """Compare the seeds: a scatter plot of one weight against accuracy."""
    page.set_viewport_size({"width": 1600, "height": 1000})
    _open_compare(page, base, sweep)
    page.get_by_role("tab", name="Scatter Plot").click()
    for axis, name in (("x", SCATTER_X), ("y", METRIC)):
        page.locator(f"#{axis}-axis-selector").click()
        page.get_by_role("option", name=name, exact=True).click()
        page.locator(f"text.{axis}title", has_text=_exact(name)).wait_for()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.get_by_role("heading", level=2).first.hover()  # off the plot: no labels, no toolbar


def show_predictions(page, base: str, sweep: Sweep, seed: int = SEED) -> None:
    """One seed's predictions.csv in the artifact viewer."""
    page.set_viewport_size({"width": 1600, "height": 900})
    run_id = sweep.child_ids[sweep.child_names.index(f"{_label(sweep)} · seed {seed}")]
    page.goto(
        f"{base}/#/experiments/{sweep.experiment_id}/runs/{run_id}/artifacts/predictions.csv"
        "?workflowType=machine_learning"
    )
    page.get_by_role("columnheader", name="y_hat").wait_for()
    _close_assistant(page)


def _label(sweep: Sweep) -> str:
    return sweep.child_names[0].split(" · ")[0]  # the activation, e.g. "sigmoid"


VIEWS = {
    "experiment": show_experiment,
    "description": show_description,
    "compare": show_compare,
    "scatter": show_scatter,
    "predictions": show_predictions,
}


def capture(browser, base: str, sweep: Sweep, out: Path) -> dict:
    """Open every view in its own page, screenshot it into `out`; return {name: (page, png)}.

    The pages stay open, so a caller can go on asserting on what they render.
    """
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    shots = {}
    for name, show in VIEWS.items():
        page = context.new_page()
        show(page, base, sweep)
        page.wait_for_timeout(500)  # let the grid and plots settle before the picture
        png = out / f"{name}.png"
        page.screenshot(path=str(png))
        print(f"screenshot: {png}")
        shots[name] = (page, png)
    return shots


def copy_plots(sweep: Sweep, out: Path) -> list[Path]:
    copied = []
    for png in sorted((sweep.run_folder / "plots").glob("*.png")):
        copied.append(Path(shutil.copy(png, out / png.name)))
        print(f"plot: {copied[-1]}")
    return copied


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="default: docs/")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="neuron-luck-ui-") as tmp:
        sweep = run_sweep(Path(tmp))
        with mlflow_server(sweep) as base, chromium(Path(tmp)) as browser:
            capture(browser, base, sweep, args.out)
        copy_plots(sweep, args.out)


if __name__ == "__main__":
    main()
