"""`python -m runner` as a user runs it, in a temporary folder with its own SQLite store."""

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, all_runs, run_cli, start_runner, store_at

pytestmark = pytest.mark.slow


def test_five_seeds(tmp_path, migrated_store):
    # Not the default store, so the UI is told which; made already (making one is
    # test_default_store_is_mlflow_db_in_the_working_directory's).
    uri = store_at(tmp_path / "runs.db", migrated_store)
    out = run_cli(["activation=sigmoid", "seed=1..5", f"tracking.uri={uri}"], tmp_path)
    assert out.returncode == 0, out.stderr
    runs = all_runs(uri)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 5
    assert {r.info.status for r in runs} == {"FINISHED"}
    client = MlflowClient(uri)
    hydra_files = {a.path for a in client.list_artifacts(parents[0].info.run_id, "hydra")}
    assert {"hydra/config.yaml", "hydra/overrides.yaml"} <= hydra_files
    assert "seeds evaluated  5 (1..5)" in out.stdout
    # Where to see it: the UI on this store, and the job's page in the model-training view.
    assert (f"open the UI      python -m runner.ui --uri {uri}   then this job: "
            f"http://127.0.0.1:5000/#/experiments/{parents[0].info.experiment_id}/runs/"
            f"{parents[0].info.run_id}?workflowType=machine_learning") in out.stdout
    # The run folder went under outputs/ of the working directory.
    assert list(tmp_path.glob("outputs/*/*/seeds.parquet"))


def test_default_store_is_mlflow_db_in_the_working_directory(tmp_path):
    out = run_cli(["seed=1..2"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "mlflow.db").exists()
    assert len(all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")) == 3
    assert "open the UI      python -m runner.ui   then this job: http://127.0.0.1:5000/#/" \
        in out.stdout


def test_multirun_over_two_activations_makes_two_parents(tmp_path, store):
    uri = store
    out = run_cli(["-m", "activation=sigmoid,tanh", "seed=1..3", f"tracking.uri={uri}"],
                  tmp_path)
    assert out.returncode == 0, out.stderr
    runs = all_runs(uri)
    parents = [r for r in runs if r.data.tags.get("neuron_luck.kind") == "job"]
    assert sorted(p.data.params["activation"] for p in parents) == ["sigmoid", "tanh"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 6
    # The sweep-level report: its own run, linked to the jobs by the sweep id.
    reports = [r for r in runs if r.data.tags.get("neuron_luck.kind") == "sweep_report"]
    assert len(reports) == 1
    sweep_id = reports[0].data.tags["neuron_luck.sweep_id"]
    assert {p.data.tags["neuron_luck.sweep_id"] for p in parents} == {sweep_id}
    shares = {k: v for k, v in reports[0].data.metrics.items()
              if k.startswith("variance_share_")}
    assert {"variance_share_seed", "variance_share_activation"} <= set(shares)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert "P(A > B)" in reports[0].data.tags["mlflow.note.content"]
    assert "Sweep report over 2 jobs" in out.stdout
    assert list(tmp_path.glob("outputs/multirun/*/*/sweep_report.json"))
    assert ("open the UI: python -m runner.ui   then every job, one row each: "
            "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
            ) in out.stdout
    # Issue 22, item 5: the report's row says what the sweep compared and shows figures in
    # the jobs view's columns; each job shows its sweep, as the report does.
    report = reports[0]
    assert report.info.run_name == "sweep report · activation · 2 jobs"
    assert report.data.params["sweep"] == sweep_id
    assert report.data.params["seeds"] == "6"
    accuracy = [c.data.metrics["accuracy"] for c in children]
    assert report.data.metrics["accuracy_min"] == min(accuracy)
    assert report.data.metrics["accuracy_max"] == max(accuracy)
    assert report.data.metrics["accuracy_mean"] == pytest.approx(sum(accuracy) / 6, rel=1e-13)
    assert {p.data.params["sweep"] for p in parents} == {sweep_id}
    assert {p.data.params["hidden"] for p in parents} == {"[]"}
    # The report reads each job's table back from MLflow without MLflow's progress bars.
    assert "Downloading artifacts" not in out.stdout + out.stderr


def test_lesson(tmp_path):
    out = run_cli(["+experiment=lesson", "tracking=off"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "0.858246" in out.stdout and "✗ misprint" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["seed=abc"], "seed=abc: 'abc' is not a whole number"),
        (["seed=5..1"], "the range is reversed"),
        (["weights=[1,2,3]"], "3 weight(s) for 2 feature(s)"),
    ],
)
def test_bad_input_one_line_no_traceback(tmp_path, args, message):
    out = run_cli([*args, "tracking=off"], tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0


def test_unknown_activation_refused_with_the_choices(tmp_path):
    out = run_cli(["activation=sigmod", "tracking=off"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("Error: activation=sigmod: no such choice; did you mean "
                                 "activation=sigmoid? (choices: elu, gelu, leaky_relu")
    assert out.stderr.strip().count("\n") == 0


def test_help_is_the_apps_own_page(tmp_path):
    out = run_cli(["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("neuron-luck: how much of one neuron's answer is the luck")
    assert "seed=1..50      every seed from 1 to 50 inclusive" in text
    # The groups with their real choices only: no schema.
    assert "activation: elu, gelu, leaky_relu, linear, relu, sigmoid, silu, softplus, step, tanh"\
        in text
    assert "dataset: breast_cancer, csv, lesson, moons, obesity" in text
    assert "tracking: mlflow, off, server" in text
    assert "split: holdout, kfold, none" in text and "trainer: adam, gd, sgd" in text
    assert "order_seed=1..20  the mini-batches' order" in text  # the sources of luck too
    assert "base_" not in text
    assert text.count("python -m runner ") >= 3  # examples
    assert "outputs/<date>/<time>/" in text and "python -m runner.ui" in text
    assert "powered by Hydra" not in text
    assert "model.hidden=[8] (or [16,8]) puts\nhidden layers" in text  # the networks too


def test_evaluate_and_train_in_one_multirun(tmp_path, store):
    uri = store
    out = run_cli(["-m", "mode=evaluate,train", "seed=1..20", f"tracking.uri={uri}",
                   "luck.plots=false"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Training removed" in out.stdout
    report = next(r for r in all_runs(uri) if r.data.tags.get("neuron_luck.kind") == "sweep_report")
    assert "variance_share_mode" in report.data.metrics
    assert "P(mode=train > mode=evaluate)" in out.stdout


@pytest.mark.parametrize("args", [["--help"], ["tracking=off", "seed=1..3", "luck.plots=false"]])
def test_help_and_tracking_off_never_import_mlflow(tmp_path, args):
    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('mlflow imported:', 'mlflow' in sys.modules))\n"
        f"sys.argv = ['runner', *{args!r}]\n"
        "runpy.run_module('runner', run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("mlflow imported: False")


def test_hydra_job_chdir_keeps_the_store_where_the_command_ran(tmp_path):
    # With hydra.job.chdir=true the default store went to outputs/<date>/<time>/mlflow.db
    # (and MLflow's artifacts to ./mlruns of the launch folder): `python -m runner.ui` from
    # the project folder did not find the job.
    out = run_cli(["seed=1..3", "luck.plots=false", "hydra.job.chdir=true"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"sqlite:///{tmp_path / 'mlflow.db'}" in out.stdout
    assert (tmp_path / "mlflow.db").exists()
    assert not list((tmp_path / "outputs").rglob("mlflow.db"))


def test_output_piped_into_head_ends_quietly(tmp_path):
    # `python -m runner … | head -1` ended in a BrokenPipeError traceback, exit 1.
    proc = start_runner(["seed=1..3", "tracking=off", "luck.plots=false"], tmp_path)
    proc.stdout.close()  # the reader is gone before the report is printed, as head's is
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
