"""What a user sees of a sweep in the MLflow UI, read from pages a real headless Chromium renders
(and `python -m runner.ui` itself).

The browser steps are scripts/screenshots.py's, the same code that makes the README's images:
the README's sweep (four jobs of 40 seeds: more runs than the UI's first page holds), the UI
started by `python -m runner.ui`, and each page opened as a user arrives at it, in a fresh
browser (no stored state), at the README's 1400×1000 and at a laptop's 1366×768.
"""

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import engine_missing, need_module

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "screenshots.py"
CHROMIUM = "/usr/bin/chromium"
LAPTOP = {"width": 1366, "height": 768}


def _load_screenshots():
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _need_browser():
    """Chromium and Playwright, or a skip (a failure under NEURON_LUCK_ENGINES=require)."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"no {CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("no playwright (pip install -e '.[ui]')")
    if missing:
        engine_missing("; ".join(missing))


def _in_view(page, locator):
    from playwright.sync_api import expect

    expect(locator).to_be_visible()
    expect(locator).to_be_in_viewport()  # on the first screen: no scrolling


def _ml_workspace(page):
    """The page is in MLflow's model-training workspace, not its GenAI one."""
    from playwright.sync_api import expect

    assert "workflowType=machine_learning" in page.url, page.url
    sidebar = page.locator("nav a, aside a")
    expect(sidebar.filter(has_text=re.compile("^Models$"))).to_have_count(1)
    links = {t.strip() for t in sidebar.all_inner_texts()}
    assert {"Runs", "Models"} <= links and not links & {"Judges", "Prompts", "Evaluation runs"}
    # ...and it sticks for the rest of the visit, whatever page comes next.
    assert page.evaluate("localStorage.getItem('mlflow.workflowType_v1')") == '"machine_learning"'
    # MLflow's assistant panel did not open by itself (it takes a third of a laptop's width).
    expect(page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')).to_have_count(0)


# A column header's name ends inside its cell (the UI clips a name longer than the cell).
_WHOLE = ("e => e.getBoundingClientRect().right <= "
          "e.closest('.ag-header-cell').getBoundingClientRect().right")


def _column(page, col_id):
    return page.locator(f'.ag-header-cell[col-id="{col_id}"]')


def _check_pages(shots, pages, sweep, ui, browser):
    shown = sweep.shown
    label = shown.child_names[0].split(" · ")[0]

    # 1, 2, 5. The home page (the README's address) opens on every job, one row each, in the
    # model-training workspace, with accuracy and the seeds in columns on the first screen.
    page = pages["experiment"]
    _ml_workspace(page)
    # Issue 22, item 6: no "You're viewing a shared view" banner greets the user (the
    # address names no shared view: runner.ui stores the jobs view as the runs page's own).
    assert "viewStateShareKey" not in page.url, page.url
    from playwright.sync_api import expect

    expect(page.get_by_text("You're viewing a shared view")).to_have_count(0)
    assert sweep.n_runs > 100  # the UI pages by 100 runs: without the view, jobs would hide
    for job in sweep.jobs:
        _in_view(page, page.get_by_text(job.name, exact=True))
    _in_view(page, page.get_by_text(sweep.report_name, exact=True))
    _in_view(page, page.get_by_text(f"{len(sweep.jobs) + 1} matching runs"))
    # Issue 22, item 6: the settings too, `hidden` among them, each header whole.
    for col in ("params.`seeds`", "metrics.`accuracy_mean`", "metrics.`accuracy_min`",
                "metrics.`accuracy_max`", "params.`mode`", "params.`activation`",
                "params.`init`", "params.`dataset`", "params.`standardize`", "params.`hidden`"):
        _in_view(page, _column(page, col))
        name = _column(page, col).locator('[data-testid^="sort-header-"]')
        assert name.evaluate(_WHOLE), f"{col}: its name is cut"
    # Issue 22, item 5: the sweep report's row shows a figure too (it had '-' throughout).
    means = page.locator('.ag-center-cols-container [col-id="metrics.`accuracy_mean`"]')
    texts = [t.strip() for t in means.all_inner_texts()]
    assert len(texts) == len(sweep.jobs) + 1 and all(re.fullmatch(r"0\.\d+", t) for t in texts)
    # 4. Names tell the jobs apart: standardized or not.
    assert len({j.name for j in sweep.jobs}) == len(sweep.jobs)
    assert sum("· standardized ·" in j.name for j in sweep.jobs) == 2

    # 2, 3, 6. The link the job printed: its page, in the model-training workspace, says how
    # much was luck and links to its seeds on the first screen; its child runs in seed order.
    page = pages["description"]
    _ml_workspace(page)
    lead = (r"^The seed moves accuracy from 0\.\d{4} to 0\.\d{4} \(mean 0\.\d{4}, std "
            rf"0\.\d{{4}}\) over {shots.N_SEEDS} seeds\.$")
    _in_view(page, page.get_by_text(re.compile(lead)))
    _in_view(page, page.get_by_role("link", name=shots.seeds_link_name()))
    children = page.get_by_role("link", name=re.compile(rf"^{label} · seed \d+$"))
    names = [n.strip() for n in children.all_inner_texts()]
    assert names[:10] == [f"{label} · seed {s}" for s in range(1, 11)], names
    # "Show more" unfolds the whole report: one obvious click.
    page.get_by_test_id("show-comment-toggle").click()
    _in_view(page, page.get_by_role("heading", name=re.compile("How much is luck?")))
    from playwright.sync_api import expect

    expect(page.get_by_text("Expected best accuracy of k seeds")).to_be_visible()

    # 5, 6. Its seeds: every child run, in seed order, with seed and accuracy on the first screen.
    page = pages["seeds"]
    _ml_workspace(page)
    for col in ("metrics.`seed`", "metrics.`accuracy`", "params.`w.weight_kg`"):
        _in_view(page, _column(page, col))
    rows = page.locator('.ag-center-cols-container .ag-row [col-id="metrics.`seed`"]')
    seeds = [int(float(s)) for s in rows.all_inner_texts() if s.strip()]
    assert seeds[:10] == list(range(1, 11)) and seeds == sorted(seeds), seeds
    _in_view(page, page.get_by_text(f"{shots.N_SEEDS} matching runs"))

    # 2. The experiment's own address (MLflow's experiment list links to it, and so does the
    # sidebar's "Runs") opens the same view in a fresh browser.
    page = shots.fresh_page(browser, page.viewport_size)
    page.goto(f"{ui.base}/#/experiments/{sweep.experiment_id}")
    page.get_by_text(sweep.jobs[0].name, exact=True).wait_for()
    _ml_workspace(page)
    for job in sweep.jobs:
        _in_view(page, page.get_by_text(job.name, exact=True))
    _in_view(page, _column(page, "metrics.`accuracy_mean`"))


@pytest.mark.slow
def test_the_mlflow_ui_shows_the_sweep(tmp_path):
    _need_browser()
    from playwright.sync_api import expect

    shots = _load_screenshots()
    sweep = shots.run_sweep(tmp_path)
    assert len(sweep.jobs) == 4 and {len(j.child_ids) for j in sweep.jobs} == {shots.N_SEEDS}
    # 4. A child's params say in which units its weights are.
    from mlflow.tracking import MlflowClient

    child = MlflowClient(sweep.uri).get_run(sweep.shown.child_ids[0])
    assert child.data.params["standardize"] == "True"

    with shots.runner_ui(sweep) as ui, shots.chromium(tmp_path) as browser:
        assert f"your jobs, one row each: {ui.base}/#/experiments/" in ui.printed
        # The pages a user arrives at, at a laptop's size too; then the README's pictures.
        pages = shots.capture(browser, ui, sweep, tmp_path, LAPTOP, "-laptop", shots.ARRIVALS)
        _check_pages(shots, pages, sweep, ui, browser)
        pages = shots.capture(browser, ui, sweep, tmp_path)
        _check_pages(shots, pages, sweep, ui, browser)

        # The compare view of the seeds: weights and bias against accuracy, and the params table
        page = pages["compare"]
        expect(page.get_by_text(f"Comparing {shots.N_SEEDS} Runs")).to_be_visible()
        for name in ("w.height_ft", "w.weight_kg", "bias", "accuracy"):
            expect(page.locator("text.axis-title", has_text=name)).to_be_visible()
        for name in ("w.height_ft", "w.weight_kg", "bias", "seed", "standardize"):
            expect(page.get_by_role("rowheader", name=name, exact=True).first).to_be_attached()
        # ... and a scatter plot of a weight against accuracy
        page = pages["scatter"]
        expect(page.locator("text.xtitle", has_text="w.weight_kg")).to_be_visible()
        expect(page.locator("text.ytitle", has_text="accuracy")).to_be_visible()
        plot = page.locator(".js-plotly-plot:visible")  # WebGL points: ask the plot itself
        assert plot.evaluate("el => el.data.map(t => t.x.length)") == [shots.N_SEEDS]
        # one seed's predictions open as a table
        page = pages["predictions"]
        for col in ("height_ft", "weight_kg", "z", "y_hat", "predicted", "correct"):
            header = page.get_by_role("columnheader").filter(has_text=re.compile(rf"^{col}$"))
            expect(header).to_be_attached()

    for name in shots.VIEWS:
        png = tmp_path / f"{name}.png"
        assert png.stat().st_size > 10_000, png
    assert {p.name for p in shots.copy_plots(sweep, tmp_path)} >= {"accuracy.png"}


HOSTILE = ("![pixel](http://127.0.0.1:9/pixel.png) <img src='http://127.0.0.1:9/i.png'> "
           "[click](http://127.0.0.1:9/x) www.example.com *bold* | cell ~~no~~ _u_ & &amp; # h")


@pytest.mark.slow
def test_user_text_in_the_description_is_shown_as_text(tmp_path):
    # Issue 15, item 7: labels and dataset names went into the markdown unescaped, so the UI
    # fetched remote images and made links out of them.
    from playwright.sync_api import expect

    _need_browser()
    shots = _load_screenshots()
    quoted = HOSTILE.replace("'", "\\'")
    job = subprocess.run(
        [sys.executable, "-m", "runner", "seed=1..3", f"dataset.highlight_label='{quoted}'",
         f"dataset.name='{quoted}'", "luck.plots=false"],
        cwd=tmp_path, env=shots._clean_env(), capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, job.stderr
    link = re.search(r"then this job: http://127\.0\.0\.1:\d+/(#/\S+)", job.stdout).group(1)
    folder = type("Folder", (), {"folder": tmp_path})()
    with shots.runner_ui(folder) as ui, shots.chromium(tmp_path) as browser:
        page = shots.fresh_page(browser)
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{ui.base}/{link}")
        show_more = page.get_by_role("button", name=re.compile("show more", re.I))
        if show_more.count():
            show_more.first.click()
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


def test_a_line_goes_out_in_one_write_with_its_newline(monkeypatch):
    # The slow set's UI test read "…workflowType=machine_learning2026/12/04 … GET /health 200
    # OK": under PYTHONUNBUFFERED=1, print wrote the lines and their newline apart, and the
    # server's log line for the health check came between the two writes. runner.ui's
    # address and a job's outcome (parallel jobs share a terminal) go out through say().
    import io

    from runner.progress import say

    class Writes(io.RawIOBase):  # the file under an unbuffered stdout, write by write
        def __init__(self):
            self.writes = []

        def writable(self):
            return True

        def write(self, b):
            self.writes.append(bytes(b))
            return len(b)

    raw = Writes()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
    print("a\nb")
    assert raw.writes == [b"a\nb", b"\n"]  # print's two writes, as CI's stdout makes them
    raw.writes.clear()
    say("MLflow UI ready on http://127.0.0.1:5000; Ctrl-C stops it\n  your jobs: …")
    assert raw.writes == ["MLflow UI ready on http://127.0.0.1:5000; Ctrl-C stops it\n"
                          "  your jobs: …\n".encode()]
    err = Writes()
    say("Error: one line", io.TextIOWrapper(err, write_through=True))
    assert err.writes == [b"Error: one line\n"]


def test_runner_ui_command_is_localhost_on_the_default_store(tmp_path, monkeypatch, capsys):
    from runner import ui

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert ui.main(["--print-command"]) == 0
    line = capsys.readouterr().out.strip()
    assert (f"-m mlflow ui --backend-store-uri sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
            " --host 127.0.0.1 --port 5000") in line
    if ui.has_app():  # the package is installed: MLflow serves its app plugin
        assert line.endswith("--app-name neuron-luck --workers 1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    cmd = ui.command(8080)
    assert cmd[cmd.index("--backend-store-uri") + 1:cmd.index("--port") + 2] == [
        f"sqlite:///{tmp_path.resolve() / 'elsewhere.db'}", "--host", "127.0.0.1", "--port", "8080",
    ]
    cmd = ui.command(8080, "sqlite:///other.db")  # --uri wins over the environment
    other = f"sqlite:///{tmp_path.resolve() / 'other.db'}"
    assert cmd[cmd.index("--backend-store-uri") + 1] == other


def test_runner_ui_refuses_a_port_in_use_and_names_a_free_one(tmp_path, capsys):
    from runner import ui

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert ui.main(["--port", str(port), "--uri", f"sqlite:///{tmp_path / 'm.db'}"]) == 2
    err = capsys.readouterr().err
    free = int(re.search(r"port (\d+) is free: python -m runner\.ui --port \1$", err.strip())[1])
    assert err.startswith(f"Error: --port {port}: 127.0.0.1:{port} is in use")
    assert free != port and ui.port_free(free)
    assert not (tmp_path / "m.db").exists()  # nothing started, nothing created


@pytest.mark.slow
def test_python_m_runner_ui_exits_non_zero_when_the_port_is_taken(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "runner.ui", "--port", str(port)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and f"127.0.0.1:{port} is in use" in out.stderr
    assert "Address already in use" not in out.stdout + out.stderr


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


def test_runner_ui_on_an_unreachable_server_says_so_in_one_line(capsys):
    from runner import ui
    from tests.conftest import free_port

    assert ui.main(["--uri", f"http://me:s3cret@127.0.0.1:{free_port()}"]) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "cannot reach the MLflow server" in out.err, out.err
    assert out.err.startswith("Error: ") and "s3cret" not in out.err + out.out


@pytest.mark.slow
def test_runner_ui_on_a_tracking_server_prints_its_jobs_address(mlflow_server, capsys):
    """A server serves its own UI: python -m runner.ui names the address of its jobs view
    (it refused with 'open that address' and no address before), without the password."""
    from mlflow.tracking import MlflowClient

    from runner import ui

    with_password = mlflow_server.replace("http://", "http://me:s3cret@")
    assert ui.main(["--uri", with_password]) == 0
    out = capsys.readouterr().out
    assert "No experiment 'neuron-luck' on it yet" in out and f"then open {mlflow_server}" in out
    eid = MlflowClient(mlflow_server).create_experiment("neuron-luck")
    assert ui.main(["--uri", with_password]) == 0
    out = capsys.readouterr().out
    assert (f"  your jobs, one row each: {mlflow_server}/#/experiments/{eid}/runs?"
            "viewStateShareKey=neuron-luck") in out, out
    assert out.rstrip().endswith("workflowType=machine_learning")
    assert "s3cret" not in out
    # --print-command prints the same: a server has no command to print (it refused before)
    assert ui.main(["--uri", with_password, "--print-command"]) == 0
    assert capsys.readouterr().out == out


def _no_exec(monkeypatch):
    """A tripwire: were main() to start the server, it would replace pytest's own process."""
    def refuse(*args):
        raise AssertionError(f"main() would exec {args}")
    monkeypatch.setattr(os, "execvp", refuse)


def test_store_messages_are_worded_for_the_uri_flag():
    from runner import ui

    assert ui.for_ui("tracking.uri=postgresql://u:***@h/db: cannot use the database (x); start "
                     "it, fix the address, or run with tracking=off") == (
        "--uri postgresql://u:***@h/db: cannot use the database (x); start it, fix the address")
    assert ui.for_ui("tracking.uri=sqlite:////r/m.db: /r/m.db is read-only; point tracking.uri "
                     "at a writable place or use tracking=off") == (
        "--uri sqlite:////r/m.db: /r/m.db is read-only; point --uri at a writable place")
    assert ui.for_ui("--port 1: is in use") == "--port 1: is in use"


@pytest.mark.parametrize("uri, problem", [
    # each crashed with a traceback, or (the missing folder) was created with an empty store
    ("sqlite:///{tmp}/good.csv", "{tmp}/good.csv is not a SQLite database; point --uri at an "
     "MLflow store or a new file"),
    ("foo://x", "'foo://' is not a tracking store MLflow knows; give "),
    ("sqlite:///{tmp}/nope/x.db", "folder {tmp}/nope does not exist"),
    ("{tmp}/folder", "a path, which MLflow 3 reads as its folder store and refuses (that "
     "store is in maintenance mode); give a SQLite file: --uri sqlite:///{tmp}/folder/mlflow.db"),
])
@pytest.mark.parametrize("print_command", [False, True])
def test_runner_ui_refuses_a_bad_store_in_one_line(tmp_path, capsys, monkeypatch, uri, problem,
                                                  print_command):
    from runner import ui
    from tests.conftest import free_port

    _no_exec(monkeypatch)
    (tmp_path / "good.csv").write_text("a,b\n1,2\n")
    (tmp_path / "folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    uri = uri.format(tmp=tmp_path)
    argv = ["--uri", uri, "--port", str(free_port())] + ["--print-command"] * print_command
    assert ui.main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1, out
    assert out.err.startswith(f"Error: --uri {uri}: {problem.format(tmp=tmp_path)}"), out.err
    assert "tracking.uri" not in out.err and "tracking=off" not in out.err
    assert sorted(tmp_path.rglob("*")) == before  # nothing created


@pytest.mark.parametrize("print_command", [False, True])
@pytest.mark.parametrize("via_env", [False, True])
def test_runner_ui_on_a_database_that_is_down_says_so_without_its_password(
        monkeypatch, capsys, print_command, via_env):
    from runner import ui
    from tests.conftest import free_port

    # Issue 22, item 1: without the driver (the README's `.[test]` install) this failed.
    need_module("psycopg", "psycopg", "server")
    _no_exec(monkeypatch)
    uri = f"postgresql+psycopg://bob:s3cret@127.0.0.1:{free_port()}/db"
    if via_env:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        argv = []
    else:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        argv = ["--uri", uri]
    argv += ["--port", str(free_port())] + ["--print-command"] * print_command
    assert ui.main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1, out
    assert out.err.startswith(f"Error: --uri {uri.replace('s3cret', '***')}: cannot use the "
                              "database (OperationalError: "), out.err
    assert out.err.rstrip().endswith("; start it, fix the address")
    assert "s3cret" not in out.err


def test_the_command_runner_ui_execs_has_no_password(tmp_path, monkeypatch):
    """The password moves from the URI (ps shows a command line to anyone) to the environment
    the server inherits."""
    from runner import ui

    for name in ("PGPASSWORD", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "restored after the test")
        monkeypatch.delenv(name)
    cmd = ui.serve_command(5000, "postgresql+psycopg://bob:s3cret@127.0.0.1:5432/db")
    assert "s3cret" not in " ".join(cmd)
    assert cmd[cmd.index("--backend-store-uri") + 1] == "postgresql+psycopg://bob@127.0.0.1:5432/db"
    assert os.environ["PGPASSWORD"] == "s3cret"
    sqlite = f"sqlite:///{tmp_path / 'm.db'}"  # no password: as it is
    assert ui.serve_command(5000, sqlite) == ui.command(5000, sqlite)


def test_runner_ui_misuse_is_one_line(capsys, monkeypatch):
    from runner import ui

    _no_exec(monkeypatch)
    assert ui.main(["--port", "abc"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == ("Error: --port abc: not a whole number; give one, e.g. "
                                         "--port 5000 (python -m runner.ui --help)\n")


@pytest.mark.parametrize("print_command", [False, True])
def test_runner_ui_on_an_unreachable_server_speaks_of_its_flag(capsys, monkeypatch,
                                                               print_command):
    from runner import ui
    from tests.conftest import free_port

    _no_exec(monkeypatch)
    port = free_port()
    argv = ["--uri", f"http://me:s3cret@127.0.0.1:{port}"] + ["--print-command"] * print_command
    assert ui.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: --uri http://me:***@127.0.0.1:{port}: cannot reach the "
                          "MLflow server ("), err
    assert err.rstrip().endswith("; start it, fix the address") and "s3cret" not in err


@pytest.mark.slow
def test_runner_ui_on_postgresql_keeps_the_password_off_every_command_line(tmp_path, capsys):
    """--print-command printed the password, and the exec'd `mlflow ui` had it in its argv
    (ps shows it to anyone): it is redacted in the one, in PGPASSWORD for the other."""
    import time

    from runner import ui
    from tests.conftest import free_port
    from tests.test_launchers import running_postgres

    with running_postgres() as uri:
        password = uri.split(":")[2].split("@")[0]
        assert ui.main(["--uri", uri, "--print-command"]) == 0
        line = capsys.readouterr().out
        assert f"--backend-store-uri '{uri.replace(password, '***')}'" in line, line
        assert password not in line

        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MLFLOW_") and k != "PGPASSWORD"}
        env["PYTHONPATH"] = str(ROOT)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "runner.ui", "--uri", uri, "--port",
                                 str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            argv, deadline = [], time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
                if b"mlflow" in argv:  # exec'd: the same pid, the server's command line
                    break
                time.sleep(0.2)
            assert b"mlflow" in argv, proc.communicate(timeout=30)
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        finally:
            os.killpg(proc.pid, 15)  # the session this test started: mlflow ui and its workers
            proc.communicate(timeout=60)
        assert password.encode() not in b" ".join(argv)
        assert uri.replace(f":{password}", "").encode() in argv
        assert f"PGPASSWORD={password}".encode() in environ


@pytest.mark.slow
def test_python_m_runner_ui_prints_its_address_once_the_server_answers(tmp_path):
    """Issue 22, item 7: the address was printed 15-50 s before the server answered, so the
    page a user opened at once was refused."""
    import time
    import urllib.request

    from mlflow.tracking import MlflowClient

    from tests.conftest import free_port

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    eid = MlflowClient(uri).create_experiment("neuron-luck")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PYTHONPATH"] = str(ROOT)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runner.ui", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "Ctrl-C stops it" in line:  # the line that says the UI is there
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                break
            assert time.monotonic() < deadline, lines
        else:
            pytest.fail(f"runner.ui printed no address: {lines}")
        assert next(proc.stdout).rstrip("\n") == (
            f"  your jobs, one row each: http://127.0.0.1:{port}/#/experiments/{eid}/runs?"
            "workflowType=machine_learning")
    finally:
        os.killpg(proc.pid, 15)
        proc.communicate(timeout=60)
    assert lines[0].startswith(f"Starting the MLflow UI on {uri} at http://127.0.0.1:{port}")
    assert lines[-1] == f"MLflow UI ready on http://127.0.0.1:{port}; Ctrl-C stops it", lines
