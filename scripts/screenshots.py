"""Regenerate the README's MLflow UI screenshots from a real sweep, in a real browser.

    python scripts/screenshots.py              # writes docs/*.png
    python scripts/screenshots.py --out DIR    # somewhere else

It runs the README's sweep (`python -m runner -m activation=sigmoid,tanh
dataset.standardize=false,true seed=1..40`: four jobs, 160 seeds) in a temporary folder, starts
`python -m runner.ui` there (MLflow's server on 127.0.0.1), drives Debian's Chromium headless
through Playwright at 1400×1000, and saves what a user gets by following the README: the UI's
home page (every job, one row each), the link a job prints (its parent run), the link in its
description (its seeds in seed order), the compare view of the seeds (parallel coordinates, and
a scatter plot of a weight against accuracy) and one seed's predictions table, plus the luck
plots. Nothing is clicked to make a page look better than it opens.
tests/test_ui.py imports this file and runs the same steps, then asserts on the pages.

Needs `apt-get install chromium` and the `ui` extra (pip install -e '.[ui]'; no
`playwright install`: the browser is Debian's /usr/bin/chromium, started here and stopped by
its process id).
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
N_SEEDS = 40
# More runs than the UI's first page (100) holds: the sweep the README's pictures show.
SWEEP = ["-m", "activation=sigmoid,tanh", "dataset.standardize=false,true",
         f"seed=1..{N_SEEDS}"]
SHOWN = "sigmoid · uniform · obesity · standardized"  # the job whose pages are shown
SEED = 7  # the child whose predictions are shown
PARAMS = ["w.height_ft", "w.weight_kg", "bias"]  # what the compare view plots against accuracy
METRIC = "accuracy"
SCATTER_X = "w.weight_kg"
SIZE = {"width": 1400, "height": 1000}  # the README's pictures
TIMEOUT_MS = 30_000


@dataclass
class Job:
    parent_id: str
    name: str
    child_ids: list[str]  # in seed order
    child_names: list[str]
    link: str  # the address the job printed, after the host: #/experiments/…


@dataclass
class Sweep:
    folder: Path  # where `python -m runner` ran (its store: mlflow.db there)
    uri: str
    experiment_id: str
    jobs: list[Job]
    n_runs: int  # every run of the experiment, children included
    report_name: str  # the sweep report's run
    run_folder: Path  # the shown job's Hydra folder, with plots/

    @property
    def shown(self) -> Job:
        return next(j for j in self.jobs if j.name.startswith(SHOWN))


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "NEURON_LUCK_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_sweep(folder: Path) -> Sweep:
    """Run the README's sweep in `folder`, as a user does (default store), and read it back."""
    from mlflow.tracking import MlflowClient

    proc = subprocess.run(
        [sys.executable, "-m", "runner", *SWEEP], cwd=folder, env=_clean_env(),
        capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    links = re.findall(r"then this job: http://127\.0\.0\.1:\d+/(#/\S+)", proc.stdout)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("neuron-luck")
    runs = client.search_runs([exp.experiment_id], max_results=10_000)
    jobs = []
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags
               and r.data.tags.get("neuron_luck.kind") != "sweep_report"]
    for parent in sorted(parents, key=lambda r: r.info.start_time):
        children = sorted(
            (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
            key=lambda r: int(r.data.params["seed"]),
        )
        link = next(k for k in links if f"/runs/{parent.info.run_id}?" in k)
        jobs.append(Job(parent.info.run_id, parent.info.run_name,
                        [r.info.run_id for r in children], [r.info.run_name for r in children],
                        link))
    report = next(r for r in runs if r.data.tags.get("neuron_luck.kind") == "sweep_report")
    sweep = Sweep(folder, uri, exp.experiment_id, jobs, len(runs), report.info.run_name,
                  run_folder=Path())
    plots = [p.parent for p in folder.glob("outputs/multirun/*/*/*/plots")
             if (p.parent / ".hydra" / "overrides.yaml").exists()]
    for run_folder in plots:  # the shown job's folder: its overrides name its settings
        overrides = (run_folder / ".hydra" / "overrides.yaml").read_text().lower()
        if "activation=sigmoid" in overrides and "dataset.standardize=true" in overrides:
            sweep.run_folder = run_folder
    if not sweep.run_folder.name:
        raise RuntimeError(f"no plots/ of the shown job under {folder / 'outputs'}")
    return sweep


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


def _wait_until(ready, proc: subprocess.Popen, what: str, log: Path, timeout: float = 90):
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


@dataclass
class UI:
    base: str  # http://127.0.0.1:<port>
    printed: str  # what `python -m runner.ui` printed when it started


@contextmanager
def runner_ui(sweep: Sweep):
    """`python -m runner.ui --port <free port>` in the sweep's folder, as a user starts it
    (it execs `mlflow ui`, a real MLflow server on 127.0.0.1); stopped by its process id."""
    port = free_port()
    log = sweep.folder / "runner-ui.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.ui", "--port", str(port)], cwd=sweep.folder,
            env=_clean_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        # Its address is printed once the server answers (issue 22, item 7).
        _wait_until(lambda: "MLflow UI ready on" in log.read_text(), proc, "python -m runner.ui",
                    log)
        assert _http_ok(f"{base}/health"), log.read_text()
        yield UI(base, log.read_text())
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


def fresh_page(browser, size=SIZE):
    """A page in a browser context of its own: no stored UI state, as on a first visit."""
    context = browser.new_context(viewport=size)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


# --- the pages, as a user arrives at them ---------------------------------------------------

def _exact(text: str):
    return re.compile(rf"^{re.escape(text)}$")


def _settle(page) -> None:
    page.wait_for_timeout(500)  # let the grid and plots settle before the picture
    page.mouse.move(1, page.viewport_size["height"] - 1)  # off the rows and plots: no hover


def open_home(page, ui: UI, sweep: Sweep) -> None:
    """The README's address, http://127.0.0.1:5000: the UI's home page."""
    page.goto(ui.base)
    page.get_by_text(sweep.jobs[0].name, exact=True).wait_for()
    _settle(page)


def open_job(page, ui: UI, sweep: Sweep) -> None:
    """The address the shown job printed at its end ("then this job: …")."""
    page.goto(f"{ui.base}/{sweep.shown.link}")
    page.get_by_role("link", name=seeds_link_name()).wait_for()
    page.get_by_text(f"{_label(sweep)} · seed 1", exact=True).wait_for()  # child runs box
    _settle(page)


def seeds_link_name() -> str:
    return f"The {N_SEEDS} seeds, in seed order"


def open_seeds(page, ui: UI, sweep: Sweep):
    """The link in the job's description: its seeds in a table (the UI opens it in a new tab);
    returns that tab."""
    open_job(page, ui, sweep)
    with page.context.expect_page() as new_tab:
        page.get_by_role("link", name=seeds_link_name()).click()
    seeds = new_tab.value
    seeds.get_by_text(sweep.shown.child_names[0], exact=True).wait_for()
    _settle(seeds)
    return seeds


def _open_compare(page, base: str, sweep: Sweep) -> None:
    runs = quote(json.dumps(sweep.shown.child_ids))
    exps = quote(json.dumps([sweep.experiment_id]))
    page.goto(f"{base}/#/compare-runs?runs={runs}&experiments={exps}&workflowType=machine_learning")
    page.get_by_role("button", name="Clear All").wait_for()
    page.get_by_role("button", name="Run details").click()  # fold it: the params table moves up


def show_compare(page, ui: UI, sweep: Sweep) -> None:
    """Compare the seeds: parallel coordinates of the weights and bias against accuracy."""
    _open_compare(page, ui.base, sweep)
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
    _settle(page)


def show_scatter(page, ui: UI, sweep: Sweep) -> None:
    """Compare the seeds: a scatter plot of one weight against accuracy."""
    _open_compare(page, ui.base, sweep)
    page.get_by_role("tab", name="Scatter Plot").click()
    for axis, name in (("x", SCATTER_X), ("y", METRIC)):
        page.locator(f"#{axis}-axis-selector").click()
        page.get_by_role("option", name=name, exact=True).click()
        page.locator(f"text.{axis}title", has_text=_exact(name)).wait_for()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    _settle(page)


def show_predictions(page, ui: UI, sweep: Sweep, seed: int = SEED) -> None:
    """One seed's predictions.csv in the artifact viewer, wide enough for all its columns."""
    page.set_viewport_size({"width": 1700, "height": 900})
    job = sweep.shown
    run_id = job.child_ids[job.child_names.index(f"{_label(sweep)} · seed {seed}")]
    page.goto(f"{ui.base}/#/experiments/{sweep.experiment_id}/runs/{run_id}/artifacts/"
              "predictions.csv?workflowType=machine_learning")
    page.get_by_role("columnheader", name="y_hat").wait_for()
    _settle(page)


def _label(sweep: Sweep) -> str:
    return sweep.shown.child_names[0].split(" · ")[0]  # the activation, e.g. "sigmoid"


ARRIVALS = ("experiment", "description", "seeds")  # the pages a user arrives at by a link
VIEWS = (*ARRIVALS, "compare", "scatter", "predictions")


def capture(browser, ui: UI, sweep: Sweep, out: Path, size=SIZE, suffix="",
            views=VIEWS) -> dict:
    """Open each of `views` as a user arrives at it, in a fresh browser context each, and save
    a picture of it into `out`; return {name: page}. The pages stay open for assertions."""
    shows = {"experiment": open_home, "description": open_job, "compare": show_compare,
             "scatter": show_scatter, "predictions": show_predictions}
    pages = {}
    for name in views:
        page = fresh_page(browser, size)
        if name == "seeds":
            page = open_seeds(page, ui, sweep)
        else:
            shows[name](page, ui, sweep)
        png = out / f"{name}{suffix}.png"
        page.screenshot(path=str(png))
        print(f"screenshot: {png}")
        pages[name] = page
    return pages


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
        with runner_ui(sweep) as ui, chromium(Path(tmp)) as browser:
            capture(browser, ui, sweep, args.out)
        copy_plots(sweep, args.out)


if __name__ == "__main__":
    main()
