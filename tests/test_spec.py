import textwrap

import pytest

from suite.errors import DeclarationError, SuiteError
from suite.study import shipped, spec
from suite.study.planning import plan

BASE = """
name = "mine"
description = "a test study"
[task]
kind = "supervised"
dataset = "spirals"
[fixed]
n_neurons = 4
[scientific]
n_hidden_layers = [1, 2]
[nuisance]
seeds = 2
"""


def write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text: str) -> str:
    with pytest.raises(DeclarationError) as e:
        spec.load_file(write(tmp_path, text))
    return str(e.value)


def test_base_declaration_is_valid(tmp_path):
    study = spec.load_file(write(tmp_path, BASE))
    assert [v.label for v in study.axes[0].values] == ["1", "2"]
    assert len(plan(study)) == 4


def test_out_of_range_value_names_file_key_expected_and_given(tmp_path):
    path = write(tmp_path, BASE.replace("n_neurons = 4", "n_neurons = 4\nlr = -0.1"))
    with pytest.raises(DeclarationError) as e:
        spec.load_file(path)
    assert str(e.value) == (f"{path}: the 'fixed.lr' value of study 'mine' must be a positive "
                            "float. Got -0.1 instead.")


def test_wrong_type(tmp_path):
    msg = error_of(tmp_path, BASE.replace("seeds = 2", "seeds = 'five'"))
    assert "the 'nuisance.seeds' value of study 'mine' must be a positive integer" in msg
    assert "Got 'five' instead." in msg


def test_bool_is_not_an_integer(tmp_path):
    msg = error_of(tmp_path, BASE.replace("n_neurons = 4", "n_neurons = true"))
    assert "'fixed.n_neurons'" in msg and "Got True instead." in msg


def test_unknown_top_level_key_suggests_the_closest(tmp_path):
    msg = error_of(tmp_path, BASE.replace("description =", "descripton ="))
    assert "'descripton'" in msg and "unknown key" in msg
    assert msg.endswith("Did you mean 'description'?")


def test_unknown_parameter_suggests_the_closest(tmp_path):
    msg = error_of(tmp_path, BASE.replace("n_neurons = 4", "n_neuron = 4"))
    assert "'fixed.n_neuron'" in msg and "a parameter of task 'supervised'" in msg
    assert msg.endswith("Did you mean 'n_neurons'?")


@pytest.mark.parametrize("key, bad, valid", [
    ("optimizer", "adm", "'adadelta', 'adagrad', 'adam', 'rmsprop', 'sgd', 'sgd_momentum'"),
    ("activation", "rleu", "'elu', 'identity', 'relu', 'sigmoid', 'tanh'"),
    ("loss", "mse_loss", "'bce', 'bce_with_logits', 'cross_entropy', 'mse'"),
    ("dataset", "spiral", "'and', 'blobs', 'imbalanced', 'moons', 'spirals', 'xor'"),
])
def test_unknown_component_name_lists_the_valid_ones(tmp_path, key, bad, valid):
    text = BASE.replace('dataset = "spirals"', "").replace("[fixed]", f'[fixed]\n{key} = "{bad}"')
    msg = error_of(tmp_path, text)
    assert f"the 'fixed.{key}' value of study 'mine' must be one of {valid}." in msg
    assert f"Got '{bad}' instead." in msg


def test_empty_axis(tmp_path):
    msg = error_of(tmp_path, BASE.replace("n_hidden_layers = [1, 2]", "n_hidden_layers = []"))
    assert "'scientific.n_hidden_layers'" in msg and "a non-empty list of values" in msg


def test_no_axis_at_all(tmp_path):
    msg = error_of(tmp_path, BASE.replace("n_hidden_layers = [1, 2]", ""))
    assert "'scientific'" in msg and "at least one axis" in msg


def test_bad_value_inside_an_axis_is_located(tmp_path):
    msg = error_of(tmp_path, BASE.replace("[1, 2]", "[1, -2]"))
    assert "'scientific.n_hidden_layers[1]'" in msg and "Got -2 instead." in msg


def test_contradiction_bce_with_logits_and_sigmoid_output(tmp_path):
    text = BASE.replace("n_neurons = 4", 'n_neurons = 4\nloss = "bce_with_logits"\n'
                        'output_activation = "sigmoid"')
    msg = error_of(tmp_path, text)
    assert "'output_activation'" in msg and "'identity' with loss 'bce_with_logits'" in msg
    assert "Got 'sigmoid' instead." in msg


def test_contradiction_inside_a_compound_axis_names_the_grid_point(tmp_path):
    text = BASE.replace("[scientific]", "[scientific]\nloss = [{ label = 'bad', "
                        "loss = 'bce_with_logits' }]")
    msg = error_of(tmp_path, text)
    assert "grid point" in msg and "loss=bad" in msg


def test_a_key_both_fixed_and_varied_is_refused(tmp_path):
    msg = error_of(tmp_path, BASE.replace("n_neurons = 4", "n_neurons = 4\nn_hidden_layers = 3"))
    assert "'fixed.n_hidden_layers'" in msg and "varied by the scientific axis" in msg


def test_quick_variant_is_validated_too(tmp_path):
    msg = error_of(tmp_path, BASE + "\n[quick]\nfixed = { epochs = 0 }\n")
    # the key as the file spells it: the value to fix is in [quick], not in [fixed]
    assert "the 'quick.fixed.epochs' value" in msg and "an integer in [1, 100000]" in msg
    assert "Got 0 instead." in msg


def test_quick_variant_replaces_named_axes_only(tmp_path):
    text = BASE + ("\n[quick]\nseeds = 1\nfixed = { epochs = 3 }\n"
                   "scientific = { n_hidden_layers = [1] }\n")
    study = spec.load_file(write(tmp_path, text), quick=True)
    assert study.quick and study.seeds == 1 and study.fixed["epochs"] == 3
    assert [v.label for v in study.axes[0].values] == ["1"]


def test_unknown_task_kind(tmp_path):
    msg = error_of(tmp_path, BASE.replace('kind = "supervised"', 'kind = "supervise"'))
    assert "'task.kind'" in msg and msg.endswith("Did you mean 'supervised'?")


def test_bad_name(tmp_path):
    msg = error_of(tmp_path, BASE.replace('name = "mine"', 'name = "My Study"'))
    assert "'name'" in msg and "lowercase" in msg


def test_unknown_metric(tmp_path):
    text = 'metrics = ["val_acc"]\n' + BASE
    msg = error_of(tmp_path, text)
    assert "'metrics[0]'" in msg and "Did you mean 'val_accuracy'?" in msg


def test_invalid_toml_is_a_suite_error(tmp_path):
    with pytest.raises(SuiteError, match="not valid TOML"):
        spec.load_file(write(tmp_path, "name = \n"))


@pytest.mark.parametrize("name", shipped.names())
def test_every_shipped_study_validates_in_both_variants(name):
    full, quick = shipped.load(name), shipped.load(name, quick=True)
    assert full.name == quick.name == name and quick.quick and not full.quick
    assert len(plan(quick)) <= len(plan(full))


def test_unknown_study_lists_the_shipped_ones():
    with pytest.raises(SuiteError) as e:
        shipped.load("spiral-layer")
    assert "Did you mean 'spiral-layers'?" in str(e.value) and "spiral-losses" in str(e.value)


def test_the_nine_spiral_studies_are_shipped():
    spirals = {n for n in shipped.names() if n.startswith("spiral-")}
    assert spirals == {"spiral-layers", "spiral-activations", "spiral-neurons",
                       "spiral-batch-size", "spiral-learning-rate", "spiral-epochs",
                       "spiral-optimizers", "spiral-losses", "spiral-first-runs"}


def test_learning_rate_study_crosses_lr_with_four_shapes():
    study = shipped.load("spiral-learning-rate")
    configs = {(c["lr"], c["n_hidden_layers"], c["n_neurons"]) for t in plan(study)
               for c in [t.config]}
    assert len(configs) == 20 and (10.0, 6, 10) in configs and len(plan(study)) == 100


def test_a_quick_trial_never_shares_its_identity_with_a_full_one(tmp_path):
    text = BASE + "\n[quick]\nseeds = 2\n"  # the quick variant plans the very same configs
    full = plan(spec.load_file(write(tmp_path, text)))
    quick = plan(spec.load_file(write(tmp_path, text), quick=True))
    assert [t.config for t in full] == [t.config for t in quick]
    assert not {t.trial_id for t in full} & {t.trial_id for t in quick}
