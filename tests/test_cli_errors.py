"""Bad command lines worded as one line (runner/cli_errors.py): Hydra's refusals, for what the
installed engines cannot show end to end (a launcher preset whose plugin is missing), and what
Hydra would misread (tests/test_bad_input.py runs the CLI itself)."""

import pytest
from hydra.errors import MissingConfigException

from runner.cli_errors import check_args, explain, launcher_note, version
from runner.errors import QUOTED_MAX, error_line, shown
from tests.conftest import run_cli


def _missing(message, path, options):
    return MissingConfigException(message=message, missing_cfg_file=path, options=options)


def test_a_launcher_preset_without_its_plugin_names_the_package():
    # conf/hydra/launcher/joblib_small.yaml extends the plugin's `joblib`, absent without it.
    exc = _missing("In 'hydra/launcher/joblib_small': Could not find 'hydra/launcher/joblib'\n"
                   "\nAvailable options in 'hydra/launcher':\n\tbasic\n\tjoblib_small",
                   "hydra/launcher/joblib", ["basic", "joblib_small"])
    assert explain(exc, ["-m", "hydra/launcher=joblib_small", "seed=1..9"]) == (
        "hydra/launcher=joblib_small: needs hydra-joblib-launcher; install it "
        "(pip install -e '.[engines]')")


def test_a_plugin_launcher_not_installed_names_the_package():
    exc = _missing("Could not find 'hydra/launcher/submitit_slurm'\n",
                   "hydra/launcher/submitit_slurm", ["basic"])
    assert explain(exc, ["hydra/launcher=submitit_slurm"]) == (
        "hydra/launcher=submitit_slurm: needs hydra-submitit-launcher; install it "
        "(pip install -e '.[engines]')")


def test_an_unknown_launcher_lists_the_choices():
    exc = _missing("Could not find 'hydra/launcher/jobli'\n", "hydra/launcher/jobli",
                   ["basic", "joblib", "joblib_small"])
    assert explain(exc, ["hydra/launcher=jobli"]) == (
        "hydra/launcher=jobli: no such choice; did you mean hydra/launcher=joblib? "
        "(choices: basic, joblib, joblib_small)")


def test_anything_else_is_not_bad_input():
    assert explain(RuntimeError("a bug"), []) is None
    assert explain(ValueError("not from Hydra"), []) is None


@pytest.mark.parametrize("args, message", [
    (["seed=1..50", "seed=2"], "seed=1..50 seed=2: seed is given twice, and only the last would "
                               "count; keep one"),
    (["activation", "sigmoid"], "activation: a setting is key=value; write activation=sigmoid"),
    (["--seed", "5"], "--seed: not an option; a setting is key=value, e.g. seed=5"),
    (["--seed=5"], "--seed=5: not an option; a setting is key=value, e.g. seed=5"),
    (["seed=1..2", "-m", "activation=relu,tanh"],
     "-m: Hydra's options go before the settings; write python -m runner -m seed=1..2 "
     "activation=relu,tanh"),
    (["seed=3", "--cfg", "job"], "--cfg: Hydra's options go before the settings; write "
                                 "python -m runner --cfg job seed=3"),
    # Hydra's argparse answered these with its 7-line usage block; a made-up option was
    # offered as a setting (--verbose → verbose=…) though no such setting exists.
    (["--cfg", "jobs"], "--cfg jobs: not a choice; did you mean --cfg job? (choices: all, "
                        "hydra, job)"),
    (["-c", "job2"], "-c job2: not a choice; did you mean -c job?"),
    (["--info", "foo"], "--info foo: not a choice (choices: all, config, defaults, "),
    (["--info", "seed=3"], "--info seed=3: not a choice; write --info all seed=3, since --info "
                           "would read seed=3 as its choice"),
    (["--verbose"], "--verbose: not an option; did you mean --version? (python -m runner "
                    "--help lists the settings, --hydra-help Hydra's options)"),
])
def test_what_hydra_would_misread_is_refused(args, message):
    assert check_args(args).startswith(message)


@pytest.mark.parametrize("args", [
    [], ["seed=1..50"], ["-m", "activation=relu,tanh", "seed=1..5"], ["--cfg", "job", "seed=3"],
    ["--info", "defaults", "seed=3"], ["~activation"], ["+experiment=lesson"], ["--help"],
])
def test_what_hydra_reads_is_let_through(args):
    assert check_args(args) is None


@pytest.mark.parametrize("arg, message", [
    ("model.hidden=8", "model.hidden=8: needs a list; write model.hidden=[8]"),
    ("weights=5", "weights=5: needs a list; write weights=[5]"),
    ("dataset.features=a", "dataset.features=a: needs a list; write dataset.features=[a]"),
    ("model.hidden=null", "model.hidden=null: needs a value; drop it for the default or give one"),
    ("model.hidden={a:1}",
     "model.hidden={a:1}: needs a list, not a mapping; write model.hidden=[…]"),
    ("printed=5", "printed=5: needs a mapping; write printed={name: value, …}"),
    ("experiment=lesson", "experiment=lesson: experiment is added, not chosen: write "
     "+experiment=lesson (choices: lesson)"),
])
def test_hydras_type_refusals_say_the_form_to_write(compose_cfg, arg, message):
    # They read as OmegaConf's own words before ("Invalid value assigned: int is not a
    # ListConfig, list or tuple.", "Could not override 'experiment'. No match in the defaults
    # list."), with no fix.
    with pytest.raises(Exception) as e:
        compose_cfg(arg)
    assert explain(e.value, [arg]) == message


def test_no_ray_cluster_is_one_line():
    # Ray's own words (ray 2.x, ray.init(address="auto") with no cluster), a traceback before.
    exc = ConnectionError("Could not find any running Ray instance. Please specify the one to "
                          "connect to by setting `--address` flag or `RAY_ADDRESS` environment "
                          "variable.")
    assert explain(exc, ["-m", "hydra/launcher=ray_attach", "seed=1..2"]) == (
        "hydra/launcher=ray_attach: no Ray cluster is running on this machine (or at "
        "$RAY_ADDRESS); start one with ray start --head, or give "
        "hydra.launcher.ray.init.address=HOST:6379")


@pytest.mark.parametrize("args, noted", [
    (["hydra/launcher=submitit_slurm", "seed=1..9"], "hydra/launcher=submitit_slurm"),
    (["seed=1..9", "hydra.launcher.n_jobs=4"], "hydra.launcher.n_jobs=4"),
    (["+hydra/sweeper=optuna"], "+hydra/sweeper=optuna"),
    (["-m", "hydra/launcher=joblib"], None),
    (["--multirun", "hydra/launcher=joblib"], None),
    (["hydra.mode=MULTIRUN", "hydra/launcher=joblib"], None),
    (["seed=1..9", "activation=relu"], None),
])
def test_a_launcher_for_a_single_job_gets_a_note(args, noted):
    # Hydra ignores a launcher without -m: the job ran here while the user waited for SLURM.
    note = launcher_note(args)
    if noted is None:
        assert note is None
    else:
        assert note.startswith(f"{noted} takes effect in a multirun only; without -m this job "
                               "runs here")


def test_the_command_line_says_our_version_and_notes_a_launcher(tmp_path):
    from importlib.metadata import version as installed

    out = run_cli(["--version"], tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == version()
    assert out.stdout.startswith(f"neuron-luck {installed('neuron-luck')} (Hydra "
                                 f"{installed('hydra-core')}, MLflow {installed('mlflow')}")
    out = run_cli(["hydra/launcher=basic", "seed=1..3", "tracking=off",
                   "luck.plots=false"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("Note: hydra/launcher=basic takes effect in a multirun "
                                 "only"), out.stderr
    assert "Luck across 3 seeds" in out.stdout


def test_an_error_line_is_one_line_and_quotes_a_value_cut():
    # Issue 22: a value with a newline made a two-line error, a CSV cell of several MB was
    # quoted whole.
    assert error_line("dataset.path=a\nb: no such file") == \
        "Error: dataset.path=a\\nb: no such file"
    assert error_line("x=\x1b[31mred\t: bad") == "Error: x=\\x1b[31mred\\t: bad"
    line = error_line("column 'b', line 3: '" + "9" * 5_000_000 + "' is not a finite number")
    assert len(line) < 200 and line.endswith("999… is not a finite number")
    assert "\n" not in error_line("a\r\nb\u2028c") and error_line("é → ok") == "Error: é → ok"
    assert shown("x" * 1000) == "x" * (QUOTED_MAX - 1) + "…"
    assert shown("short") == "short" and shown("a\nb") == "a\\nb"
