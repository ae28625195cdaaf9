from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ValidationError

from neuron import activations, initializers

CONF = Path(__file__).resolve().parent.parent / "conf"


def test_defaults(compose_cfg):
    cfg = compose_cfg()
    assert cfg.activation.name == "sigmoid"
    assert cfg.init.scheme == "uniform"
    assert cfg.dataset.name == "obesity"
    assert list(cfg.dataset.features) == ["height_ft", "weight_kg"]
    assert cfg.tracking.enabled and cfg.tracking.child_runs == "auto"
    assert cfg.seed == 1 and cfg.weights is None


def test_seed_range_arrives_as_a_string(compose_cfg):
    assert compose_cfg("seed=1..50").seed == "1..50"
    assert list(compose_cfg("seed=[1,5,9]").seed) == [1, 5, 9]


@pytest.mark.parametrize("name", activations.NAMES)
def test_every_activation_has_a_file(compose_cfg, name):
    assert compose_cfg(f"activation={name}").activation.name == name


def test_activation_files_are_exactly_the_registry():
    assert {p.stem for p in (CONF / "activation").glob("*.yaml")} == set(activations.NAMES)


@pytest.mark.parametrize("scheme", initializers.SCHEMES)
def test_every_init_has_a_file(compose_cfg, scheme):
    cfg = compose_cfg(f"init={scheme}")
    assert initializers.check_scheme(cfg.init.scheme) == scheme
    initializers.check_scheme(cfg.init.bias.scheme)


@pytest.mark.parametrize("choice", ["obesity", "lesson"])
def test_datasets(compose_cfg, choice):
    assert compose_cfg(f"dataset={choice}").dataset.positive == "Obese"


def test_tracking_choices(compose_cfg):
    assert compose_cfg("tracking=off").tracking.enabled is False
    assert compose_cfg("tracking=server", "tracking.uri=http://127.0.0.1:5000").tracking.uri


def test_activation_parameters(compose_cfg):
    assert compose_cfg("activation=leaky_relu", "activation.slope=0.2").activation.slope == 0.2
    assert compose_cfg("activation=elu").activation.alpha == 1.0


def test_lesson_experiment(compose_cfg):
    cfg = compose_cfg("+experiment=lesson")
    assert list(cfg.weights) == [0.2, 0.00001] and cfg.bias == 1.0
    assert cfg.dataset.name == "lesson" and cfg.printed.y_hat == 0.71


def test_unknown_group_choice_refused(compose_cfg):
    with pytest.raises(ConfigCompositionException, match="activation/sigmod"):
        compose_cfg("activation=sigmod")
    with pytest.raises(ConfigCompositionException, match="init/unifrom"):
        compose_cfg("init=unifrom")


@pytest.mark.parametrize("group, schema", [
    ("activation", "base_activation"), ("activation", "base_elu"), ("dataset", "base_dataset"),
    ("init", "base_init"), ("tracking", "base_tracking"), ("trainer", "base_trainer"),
])
def test_schemas_are_not_choices(compose_cfg, group, schema):
    # Listed as a group's option, a schema showed in --help and ran (tracking=base_tracking)
    # or crashed (activation=base_activation) when chosen.
    compose_cfg()  # registers the schemas
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        options = GlobalHydra.instance().config_loader().get_group_options(group)
    assert options and not any(o.startswith("base_") for o in options), options
    with pytest.raises(ConfigCompositionException, match=f"{group}/{schema}"):
        compose_cfg(f"{group}={schema}")


def test_key_typo_refused(compose_cfg):
    with pytest.raises(ConfigCompositionException, match="activation.slop") as e:
        compose_cfg("activation.slop=0.1")
    assert isinstance(e.value.__cause__, ConfigAttributeError)
    with pytest.raises(ConfigCompositionException, match="sed"):
        compose_cfg("sed=3")


def test_wrong_type_refused(compose_cfg):
    with pytest.raises(ConfigCompositionException) as e:
        compose_cfg("weights=[a,b]")
    assert isinstance(e.value.__cause__, ValidationError)


# The typed config: closed choices are enums, refused at composition with their options;
# to_config refuses what Hydra lets through (a key added with +, a value left missing).


@pytest.mark.parametrize("override, options", [
    ("mode=fit", "[evaluate, train]"),
    ("tracking.child_runs=some", "[all, none, auto]"),
    ("init.scheme=unifrom", "uniform, normal, xavier_uniform"),
    ("init.bias.scheme=gaussian", "uniform, normal"),
    ("activation.name=sigmod", "sigmoid, tanh, relu"),
])
def test_closed_choices_are_refused_at_composition(compose_cfg, override, options):
    with pytest.raises(ConfigCompositionException) as e:
        compose_cfg(override)
    assert isinstance(e.value.__cause__, ValidationError)
    assert options in str(e.value.__cause__)


def test_typed_config(make_cfg):
    from runner.config import ChildRuns, Config, InitScheme, Mode

    cfg = make_cfg("mode=train", "init=xavier_uniform", "tracking.child_runs=none")
    assert isinstance(cfg, Config)
    assert cfg.mode is Mode.train and cfg.tracking.child_runs is ChildRuns.none
    assert cfg.init.scheme is InitScheme.xavier_uniform
    # An alias is the same member as the scheme it names.
    assert make_cfg("init.scheme=glorot_uniform").init.scheme is InitScheme.xavier_uniform
    assert f"{cfg.mode}" == "train" and str(cfg.tracking.child_runs) == "none"


@pytest.mark.parametrize("override, message", [
    ("+activaton=relu", "activaton: no such setting; did you mean activation?"),
    ("+trainer.epoch=5", "trainer.epoch: no such setting; did you mean trainer.epochs?"),
    ("+init.bias.hig=3", "init.bias.hig: no such setting; did you mean init.bias.high?"),
    ("+zzz=1", "zzz: no such setting; the keys there are dataset, activation"),
])
def test_keys_added_with_plus_are_refused(make_cfg, override, message):
    from runner.errors import UserError

    with pytest.raises(UserError) as e:
        make_cfg(override)
    assert str(e.value).startswith(message)


def test_missing_values_are_named_with_the_files_columns(make_cfg, tmp_path):
    from runner.errors import UserError

    csv = tmp_path / "my.csv"
    csv.write_text("a,b,label\n1,2,yes\n")
    with pytest.raises(UserError) as e:
        make_cfg("dataset=csv", f"dataset.path={csv}")
    assert str(e.value) == (
        "dataset.positive, dataset.target: not set; give "
        "dataset.positive=… dataset.target=… "
        "(the file has columns 'a', 'b', 'label')")


def test_tracking_server_needs_its_address(make_cfg, tmp_path):
    from runner.errors import UserError
    from runner.plan import make_plan

    with pytest.raises(UserError, match="tracking=server: tracking.uri is not set; give the "):
        make_plan(make_cfg("tracking=server"))
    with pytest.raises(UserError, match="tracking=server: tracking.uri=sqlite:///x.db; give"):
        make_plan(make_cfg("tracking=server", "tracking.uri=sqlite:///x.db"))


def test_plain_and_yaml_round_trip(make_cfg):
    from omegaconf import OmegaConf

    from runner.config import plain, to_yaml

    cfg = make_cfg("+experiment=lesson", "tracking.uri=http://u:pw@h:5000")
    values = plain(cfg)
    assert values["mode"] == "evaluate" and values["init"]["scheme"] == "uniform"
    assert OmegaConf.create(to_yaml(cfg)) == OmegaConf.create(values)
    assert "pw" not in to_yaml(cfg, "http://u:***@h:5000")
    assert "low: -1.0" in to_yaml(cfg, "http://u:***@h:5000")


def test_commands_started_in_the_same_second_get_their_own_run_folders(compose_cfg, tmp_path,
                                                                       monkeypatch):
    """CI: two commands started in the same second wrote one run folder (tables, .hydra/),
    and MLflow logged one job's files in the other's run."""
    from hydra import compose

    from runner.config import new_folder

    monkeypatch.chdir(tmp_path)
    compose_cfg()  # registers the resolver
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(__file__).parent.parent / "conf"),
                               version_base="1.3"):
        cfgs = [compose(config_name="config", return_hydra_config=True) for _ in range(3)]
        for c in cfgs[1:]:
            OmegaConf.copy_cache(cfgs[0], c)  # the same second, as Hydra's `now` caches it
        runs = [c.hydra.run.dir for c in cfgs[:2]]
        assert runs[0] == cfgs[0].hydra.run.dir  # once made, the name stays (cached)
    assert runs[0] != runs[1] and all((tmp_path / r).is_dir() for r in runs)
    base = tmp_path / "a" / "12-00-00"
    assert [new_folder(str(base)) for _ in range(3)] == [
        str(base), f"{base}-2", f"{base}-3"]
    (tmp_path / "file").write_text("")
    assert new_folder(str(tmp_path / "file")) == str(tmp_path / "file")  # Hydra reports it
