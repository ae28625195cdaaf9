"""What `python -m runner` decides before Hydra starts: whether to fork the MLflow worker, and
how the garbage collector is kept off the objects imports build."""

import gc
import sys

import pytest

from runner.speedups import gc_tuning, worker


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        ([], True),
        (["seed=1..50"], True),
        (["activation=tanh", "seed=1..500", "tracking.uri=sqlite:///x.db"], True),
        (["+experiment=lesson"], True),
        (["--help"], False),
        (["-h"], False),
        (["--hydra-help"], False),
        (["--cfg", "job"], False),
        (["--cfg=job"], False),
        (["--info"], False),
        (["-m", "seed=1..5,6..10"], False),
        (["--multirun", "activation=sigmoid,tanh"], False),
        (["seed=1..5", "tracking=off"], False),
        (["tracking.enabled=false"], False),
        (["hydra.mode=MULTIRUN", "seed=1..5"], False),
        # Split as runner.cli splits a command line: an option's value is not a setting.
        (["--info", "defaults", "seed=3"], False),
        (["-cn", "config", "seed=3"], True),
        (["--package", "tracking", "--cfg", "job"], False),
    ],
)
def test_the_worker_is_forked_only_for_one_job_that_logs(argv, wanted):
    assert worker.wanted(argv) is wanted


def test_heavy_imports_pauses_the_collector_and_freezes_what_was_built():
    name = "neuron_luck_test_module"
    assert name not in sys.modules
    before = gc.get_freeze_count()
    try:
        with gc_tuning.heavy_imports(name):
            assert not gc.isenabled()
            sys.modules[name] = type(sys)("stand-in for an import")
            built = [[i] for i in range(1000)]  # objects the import "built"
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(built)
        # Once the module is there, the block does nothing: a long-lived process freezes once.
        frozen = gc.get_freeze_count()
        with gc_tuning.heavy_imports(name):
            assert gc.isenabled()
            more = [[i] for i in range(1000)]
        assert gc.get_freeze_count() == frozen and len(more) == 1000
    finally:
        sys.modules.pop(name, None)
        gc.unfreeze()


@pytest.mark.parametrize("overrides", [["seed=1..50"], ["+experiment=lesson"],
                                       ["mode=train", "seed=1..5", "activation=tanh"],
                                       ["activation=leaky_relu", "init=he_normal"]])
def test_the_job_key_is_the_one_the_code_before_typed_configs_made(compose_cfg, make_cfg,
                                                                   overrides):
    # A parent left unfinished by an older version is found again by its key: the key of the
    # typed config is the one made from the composed config before.
    import hashlib
    import json

    from omegaconf import OmegaConf

    from runner.plan import job_key

    c = OmegaConf.to_container(compose_cfg(*overrides), resolve=True, enum_to_str=True)
    for k in ("tracking", "chunk_size", "sweep_id"):
        c.pop(k)
    assert c.pop("model") == {"hidden": []}  # the code before had no model key
    for d in (c["dataset"], c["lesson_train"] or {}):
        d.pop("highlight_values", None)  # added later (issue 14), outside the key
    # Added by issue 20, outside the key while at their defaults.
    assert c.pop("split") == {"kind": "none", "test_fraction": 0.25, "folds": 5, "seed": 0}
    assert c.pop("order_seed") == 0 and c["luck"].pop("sources") == "grid"
    for k in ("optimizer", "batch_size", "shuffle", "momentum", "nesterov", "beta1", "beta2",
              "epsilon"):
        c["trainer"].pop(k)
    before = hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()

    def key(*more):  # luck.plots at its default, as the composed config above has it
        return job_key(make_cfg(*overrides, "luck.plots=true", *more))

    assert key() == before[:16]
    assert key() != key("init.low=-2")
    assert key() != key("model.hidden=[2]")
    assert key() != key("split=holdout")


def test_a_job_imports_scipy_only_where_it_needs_it():
    # scipy.stats (~0.6 s) and scipy.special (~0.2 s) would be a third of a 50-seed run.
    import os
    import subprocess

    from tests.conftest import ROOT

    code = ("import sys, runner.job, runner.speedups.helpers, runner.sweep.callback\n"
            "print(sorted(m for m in ('scipy.stats', 'scipy.special') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
