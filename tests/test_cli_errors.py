"""Hydra's refusals worded as one line (runner/cli_errors.py), for what the installed engines
cannot show end to end: a launcher preset whose plugin is not installed."""

from hydra.errors import MissingConfigException

from runner.cli_errors import explain


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
