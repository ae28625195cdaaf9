"""What the multirun callback hands the jobs arrives as the same value."""

import pytest

from runner.sweep.callback import _quoted, sweep_id_override


# Ids that Hydra would type if left bare (554578374e83 became 5.54578374e+91 in CI).
@pytest.mark.parametrize("sweep_id", ["554578374e83", "000000000012", "123456789012",
                                      "1e5", "abcdef012345", "nan", "inf", "true", "null"])
def test_sweep_id_reaches_the_job_as_the_same_string(make_cfg, sweep_id):
    assert make_cfg(sweep_id_override(sweep_id)).sweep_id == sweep_id


@pytest.mark.parametrize("uri", ["sqlite:////tmp/a b/mlflow.db", "file:///C:\\runs\\",
                                 "http://u:p'w@127.0.0.1:5000", "sqlite:///x\\'y.db",
                                 "postgresql://u:p%40ss@h/db?x=1,2"])
def test_quoted_values_arrive_unchanged(make_cfg, uri):
    assert make_cfg(f"tracking.uri={_quoted(uri)}").tracking.uri == uri


def test_job_overrides_are_the_basic_sweepers_combinations():
    from runner.sweep.callback import job_overrides

    assert job_overrides(["a=1,2", "b=x", "c=range(0,2)"]) == [
        ["a=1", "b=x", "c=0"], ["a=1", "b=x", "c=1"], ["a=2", "b=x", "c=0"], ["a=2", "b=x", "c=1"]]


def test_a_value_one_job_would_refuse_stops_the_sweep_before_any_job(compose_cfg):
    # Issue 15's promise for a multirun: `-m seed=1..3 trainer.lr=0.5,-1 mode=train` ran and
    # logged job #0 in full before job #1 refused trainer.lr=-1.
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from runner.errors import UserError
    from runner.sweep.callback import check_jobs
    from tests.conftest import CONF

    compose_cfg()  # registers the schemas
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.overrides.task = ["seed=1..3", "trainer.lr=0.5,-1", "mode=train"]
        with pytest.raises(UserError) as e:
            check_jobs(cfg)
        assert str(e.value) == (
            "trainer.lr=-1.0: must be a positive finite number, e.g. 0.5 [job #1 of 2 "
            "(seed=1..3 trainer.lr=-1 mode=train); no job was run]")
        with open_dict(cfg):
            cfg.hydra.overrides.task = ["seed=1..3", "trainer.lr=0.5,1", "mode=train"]
        check_jobs(cfg)  # every job fine: nothing said


@pytest.mark.slow
def test_a_refused_job_in_a_multirun_leaves_no_run(tmp_path):
    from mlflow.tracking import MlflowClient

    from tests.conftest import run_cli

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run_cli(["-m", "seed=1..3", "trainer.lr=0.5,-1", "mode=train", f"tracking.uri={uri}"],
                  tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("Error: trainer.lr=-1.0: must be a positive finite number")
    assert out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".db"]
    if (tmp_path / "mlflow.db").exists():
        exp = MlflowClient(uri).get_experiment_by_name("neuron-luck")
        assert exp is None or MlflowClient(uri).search_runs([exp.experiment_id]) == []
