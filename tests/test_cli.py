"""The command line checked before Hydra composes (runner/cli): Hydra's options, the overrides
against the schemas and conf/, what only Hydra finds at run time, and the one line that says
it. tests/test_bad_input.py runs the refusals through `python -m runner` itself."""


import pytest
from hydra._internal.utils import get_args_parser
from hydra.errors import HydraException, MissingConfigException
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from runner import cli
from runner.cli import options, overrides
from runner.cli.runtime import explain
from runner.errors import QUOTED_MAX, UserError, error_line, shown
from tests.conftest import run_cli, run_in_process


def test_the_option_table_is_hydras():
    # Read by hand before Hydra is imported: a Hydra release that adds, drops or changes an
    # option must fail here, not be misread on the command line.
    theirs = {}
    for action in get_args_parser()._actions:
        if action.option_strings:
            theirs[tuple(action.option_strings)] = (
                action.nargs is None, tuple(action.choices or ()),
                action.const if action.nargs == "?" else None)
    ours = {o.names: (o.takes_value, o.choices, o.optional_value) for o in options.OPTIONS}
    assert ours == theirs


# What Hydra, OmegaConf and to_config raise for bad input.
REFUSES = (HydraException, OmegaConfBaseException, UserError, ValueError)


def _missing(message, path, options):
    return MissingConfigException(message=message, missing_cfg_file=path, options=options)


def test_a_launcher_preset_without_its_plugin_names_the_package():
    # conf/hydra/launcher/joblib_small.yaml extends the plugin's `joblib`, absent without it.
    assert overrides.launcher_missing("joblib_small", lambda module: False) == \
        "hydra-joblib-launcher"
    assert overrides.launcher_missing("ray_attach", lambda module: False) == "hydra-ray-launcher"
    assert overrides.launcher_missing("basic", lambda module: False) is None
    installed = {"hydra_plugins.hydra_ray_launcher"}
    assert overrides.launcher_missing("ray_attach", installed.__contains__) is None
    assert overrides.launcher_missing("joblib_small", installed.__contains__) == \
        "hydra-joblib-launcher"


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
    assert explain(KeyError("x"), ["seed=1"]) is None


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
    assert cli.check(args).startswith(message)


@pytest.mark.parametrize("args", [
    [], ["seed=1..50"], ["-m", "activation=relu,tanh", "seed=1..5"], ["--cfg", "job", "seed=3"],
    ["--info", "defaults", "seed=3"], ["~activation"], ["+experiment=lesson"], ["--help"],
])
def test_what_hydra_reads_is_let_through(args):
    assert cli.check(args) is None


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
    ("activation=null", "activation=null: no such choice; the choices are elu, gelu"),
    ("~sed", "~sed: no such setting to delete"),
    # In a sweep, the jobs of elu failed to compose after leaky_relu's had run.
    ("-m activation=leaky_relu,elu activation.slope=0.1", "activation.slope=0.1: "
     "activation=elu has no slope (of this sweep's choices, only leaky_relu has it); sweep them "
     "apart, e.g. python -m runner -m activation=leaky_relu activation.slope=…"),
    ("printed.x=1", "printed.x=1: printed is null unless +experiment=lesson sets it"),
    ("hydra.launcher.n_jobs=2,3", "hydra.launcher.n_jobs=2,3: a comma list sweeps, which needs "
     "-m (python -m runner -m hydra.launcher.n_jobs=2,3); for one list value write "
     "hydra.launcher.n_jobs=[2,3]"),
    # Hydra's own traceback before (AssertionError: Unexpected type for root: NoneType).
    ("lesson_train.path=x", "lesson_train.path=x: lesson_train is null unless "
     "+experiment=lesson sets it; add +experiment=lesson"),
])
def test_a_value_of_the_wrong_form_says_the_form_to_write(compose_cfg, arg, message):
    # OmegaConf's words before ("Invalid value assigned: int is not a ListConfig, list or
    # tuple.", "Could not override 'experiment'. No match in the defaults list."), no fix.
    assert cli.check(arg.split()).startswith(message)
    # Hydra refuses it too (the check is not stricter), lesson_train with a bare assert; in a
    # sweep, the job of the choice without the key.
    job = [a.split(",")[-1] if a.startswith("activation=") else a for a in arg.split()[1:]] \
        if arg.startswith("-m ") else [arg]
    with pytest.raises((*REFUSES, AssertionError)):
        compose_cfg(*job, "hydra.mode=MULTIRUN") if arg.startswith("hydra.") else \
            compose_cfg(*job)


# Command lines the check lets through: Hydra composes each, and the job takes the config.
VALID = [
    [], ["seed=1..50"], ["activation=leaky_relu", "activation.slope=0.2"],
    ["activation=elu", "activation.alpha=2"], ["+experiment=lesson"],
    ["+experiment=lesson", "lesson_train.path=data/obesity.csv"], ["++seed=4"],
    ["dataset=csv", "dataset.path=x.csv", "dataset.features=[a,b]", "dataset.target=y",
     "dataset.positive=p"],
    ["init=normal", "init.std=0.5", "init.bias.scheme=he_normal"], ["init.scheme=glorot_uniform"],
    ["tracking=off"], ["tracking.uri=sqlite:///x.db", "tracking.child_runs=none"],
    ["weights=[1,2]", "bias=0.5"], ["model.hidden=[4,2]"], ["dataset.standardize=yes"],
    ["dataset.highlight_row=null"], ["sweep_id=\"a'b\""], ["+experiment=lesson", "printed.z=2"],
    ["chunk_size='500'"], ["mode=train", "trainer.lr=0.1", "trainer.record_every=10"],
    ["luck.confidence=0.9", "luck.plots=false"], ["hydra.job.chdir=true"],
]


@pytest.mark.parametrize("args", VALID, ids=[" ".join(a) or "-" for a in VALID])
def test_what_the_check_lets_through_hydra_composes(make_cfg, args):
    assert cli.check(args) is None
    assert make_cfg(*args) is not None


# Refusals of the check that Hydra (or the job's to_config) would make too, in its own words.
REFUSED = [
    ["activation=sigmod"], ["activation=1"], ["activation.slop=0.1"], ["sed=3"],
    ["init.bias.lo=-2"], ["+activaton=relu"], ["+activation=relu"], ["+seed=3"],
    ["optimizer/adam=1"], ["seed=[1,2"], ["activation=sigmoid,tanh"], ["seed=range(1,3)"],
    ["mode=fit"], ["dataset.standardize=yes please"], ["chunk_size=1e3x"], ["weights=[a,b]"],
    ["bias=abc"], ["tracking.child_runs=some"], ["model.hidden=[1.5]"], ["model.hidden=8"],
    ["hydra.job.chdr=true"], ["+hydra.job.chdir=true"], ["hydra.job.chdir=maybe"],
    ["luck.n_resamples=many"], ["init.scheme=unifrom"], ["+experiment=lessn"],
]


@pytest.mark.parametrize("args", REFUSED, ids=[" ".join(a) for a in REFUSED])
def test_what_the_check_refuses_hydra_would_refuse(make_cfg, args):
    assert cli.check(args) is not None
    with pytest.raises(REFUSES):
        make_cfg(*args)


def test_a_hydra_refusal_the_check_missed_is_its_first_line():
    # Should the check miss one: Hydra's words, its first line only.
    from hydra.errors import ConfigCompositionException

    exc = ConfigCompositionException("Sweeping over Hydra's configuration is not supported : "
                                     "'hydra.job.chdir=true,false'\nmore")
    assert explain(exc, ["-m", "hydra.job.chdir=true,false"]) == (
        "Sweeping over Hydra's configuration is not supported : 'hydra.job.chdir=true,false'")
    exc = _missing("Cannot find primary config 'confi'. Check that it's in your config search "
                   "path.\n\nConfig search path:\n\tprovider=hydra", "confi", None)
    assert explain(exc, ["--config-name", "confi"]) == (
        "Cannot find primary config 'confi'. Check that it's in your config search path.")


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


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.integers(0, 3))
def test_shown_cuts_before_escaping_and_quotes_the_same(text, repeat):
    # shown() escapes only the head of a value now (a 2-MB cell took 0.14 s a call): the same
    # line as escaping the whole value, then cutting it.
    value = text * (1 + 50 * repeat)
    whole = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                    for c in value)
    expected = whole if len(whole) <= QUOTED_MAX else whole[:QUOTED_MAX - 1] + "…"
    assert shown(value) == expected


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
    note = cli.launcher_note(args)
    if noted is None:
        assert note is None
    else:
        assert note.startswith(f"{noted} takes effect in a multirun only; without -m this job "
                               "runs here")


def test_the_command_line_says_our_version_and_notes_a_launcher(tmp_path):
    from importlib.metadata import version as installed

    out = run_cli(["--version"], tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == cli.version()
    assert out.stdout.startswith(f"neuron-luck {installed('neuron-luck')} (Hydra "
                                 f"{installed('hydra-core')}, MLflow {installed('mlflow')}")
    out = run_cli(["hydra/launcher=basic", "seed=1..3", "tracking=off",
                   "luck.plots=false"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("Note: hydra/launcher=basic takes effect in a multirun "
                                 "only"), out.stderr
    assert "Luck across 3 seeds" in out.stdout


def test_a_list_too_long_for_hydras_parser_is_refused_before_it():
    # Issue 22, item 9: 3,000 features listed on the command line seemed to hang in Hydra's
    # parser (quadratic in the list); the check refuses it before any parser reads it.
    import time

    from runner.cli import check

    start = time.perf_counter()
    msg = check(["dataset.features=[" + ",".join(f"c{i}" for i in range(3000)) + "]"])
    assert msg.startswith("dataset.features=[…]: 3,000 values") and "leave dataset.features" \
        in msg
    assert time.perf_counter() - start < 5


def test_a_stop_hydra_wrapped_in_its_own_error_still_says_terminated(tmp_path, monkeypatch):
    # CI, once in 3 runs of test_sigterm_while_hydra_starts_says_how_to_resume: a SIGTERM
    # landing while Hydra located the multirun callback came out as Hydra's "Error locating
    # target 'runner.sweep.callback.SweepCallback' … (Error loading …)", worded as bad input,
    # exit 2. Whatever exception follows a stop asked for is that stop.
    import runner.__main__ as entry
    from runner import errors

    def hydra_wraps_the_stop():
        errors.note_stop(errors.Terminated())  # as the SIGTERM handler does
        raise ImportError("Error loading 'runner.sweep.callback.SweepCallback':\n")

    monkeypatch.setattr(errors, "_stop_asked", [])
    monkeypatch.setattr(entry, "main", hydra_wraps_the_stop)
    done = run_in_process(["-m", "seed=1..3", "tracking=off"], tmp_path)
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip() == ("Terminated: the parent run, if any, is marked FAILED; run "
                                   "the same command again to log the rest.")


def test_a_stop_during_the_sweep_reports_last_mlflow_call_ends_the_command_stopped(
        tmp_path, monkeypatch, store):
    # A SIGTERM inside an MLflow call waits for the next call (errors.shielded); the sweep
    # report's last call has none after it, and the command ended 0, as if never stopped.
    from runner import errors
    from runner.sweep import callback

    report = callback.report_sweep

    def report_then_stopped_in_its_last_call(settings):
        text = report(settings)
        with errors.shielded():  # as tracker.Shielded wraps every MLflow call
            errors.stop(errors.Terminated())  # as the SIGTERM handler does
        return text

    monkeypatch.setattr(errors, "_stop_asked", [])
    monkeypatch.setattr(errors, "_pending", [])
    monkeypatch.setattr(callback, "report_sweep", report_then_stopped_in_its_last_call)
    done = run_in_process(["-m", "seed=1..2", "activation=relu,tanh", "luck.plots=false",
                           f"tracking.uri={store}"], tmp_path)
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "Terminated: the parent run, if any, is marked FAILED; run the same command again "
        "to log the rest.")
    assert "sweep report" in done.stdout.lower(), done.stdout  # the report itself was made
