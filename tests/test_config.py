from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ValidationError

from neuron import activations, initializers

CONF = Path(__file__).resolve().parent.parent / "conf"


def test_defaults(make_cfg):
    cfg = make_cfg()
    assert cfg.activation.name == "sigmoid"
    assert cfg.init.scheme == "uniform"
    assert cfg.dataset.name == "obesity"
    assert list(cfg.dataset.features) == ["height_ft", "weight_kg"]
    assert cfg.tracking.enabled and cfg.tracking.child_runs == "auto"
    assert cfg.seed == 1 and cfg.weights is None


def test_seed_range_arrives_as_a_string(make_cfg):
    assert make_cfg("seed=1..50").seed == "1..50"
    assert list(make_cfg("seed=[1,5,9]").seed) == [1, 5, 9]


@pytest.mark.parametrize("name", activations.NAMES)
def test_every_activation_has_a_file(make_cfg, name):
    assert make_cfg(f"activation={name}").activation.name == name


def test_activation_files_are_exactly_the_registry():
    assert {p.stem for p in (CONF / "activation").glob("*.yaml")} == set(activations.NAMES)


@pytest.mark.parametrize("scheme", initializers.SCHEMES)
def test_every_init_has_a_file(make_cfg, scheme):
    cfg = make_cfg(f"init={scheme}")
    assert initializers.check_scheme(cfg.init.scheme) == scheme
    initializers.check_scheme(cfg.init.bias.scheme)


@pytest.mark.parametrize("choice", ["obesity", "lesson"])
def test_datasets(make_cfg, choice):
    assert make_cfg(f"dataset={choice}").dataset.positive == "Obese"


def test_tracking_choices(make_cfg):
    assert make_cfg("tracking=off").tracking.enabled is False
    assert make_cfg("tracking=server", "tracking.uri=http://127.0.0.1:5000").tracking.uri


def test_activation_parameters(make_cfg):
    assert make_cfg("activation=leaky_relu", "activation.slope=0.2").activation.slope == 0.2
    assert make_cfg("activation=elu").activation.alpha == 1.0


def test_lesson_experiment(make_cfg):
    cfg = make_cfg("+experiment=lesson")
    assert list(cfg.weights) == [0.2, 0.00001] and cfg.bias == 1.0
    assert cfg.dataset.name == "lesson" and cfg.printed.y_hat == 0.71


def test_unknown_group_choice_refused(make_cfg):
    with pytest.raises(ConfigCompositionException, match="activation/sigmod"):
        make_cfg("activation=sigmod")
    with pytest.raises(ConfigCompositionException, match="init/unifrom"):
        make_cfg("init=unifrom")


def test_key_typo_refused(make_cfg):
    with pytest.raises(ConfigCompositionException, match="activation.slop") as e:
        make_cfg("activation.slop=0.1")
    assert isinstance(e.value.__cause__, ConfigAttributeError)
    with pytest.raises(ConfigCompositionException, match="sed"):
        make_cfg("sed=3")


def test_wrong_type_refused(make_cfg):
    with pytest.raises(ConfigCompositionException) as e:
        make_cfg("weights=[a,b]")
    assert isinstance(e.value.__cause__, ValidationError)
