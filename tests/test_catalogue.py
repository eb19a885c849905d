import pytest
import torch

from suite import tasks
from suite.errors import UnknownNameError
from suite.training import components, datasets


@pytest.mark.parametrize("kind", sorted(components.CATALOGUE))
def test_getter_error_lists_every_valid_name(kind):
    with pytest.raises(UnknownNameError) as e:
        components.get(kind, "nope")
    for name in components.CATALOGUE[kind]:
        assert f"{name}" in str(e.value)


@pytest.mark.parametrize("name", sorted(components.ACTIVATIONS))
def test_every_activation_maps_a_tensor_to_its_shape(name):
    x = torch.linspace(-2, 2, 7)
    assert components.get("activation", name)()(x).shape == x.shape


def test_activations_compute_what_their_names_say():
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert torch.equal(components.get("activation", "relu")()(x), torch.tensor([0.0, 0.0, 2.0]))
    assert torch.equal(components.get("activation", "identity")()(x), x)


@pytest.mark.parametrize("name", sorted(components.LOSSES))
def test_every_loss_is_zero_at_a_perfect_prediction_of_its_kind(name):
    loss = components.get("loss", name)()
    if name == "cross_entropy":
        value = loss(torch.tensor([[-50.0, 50.0]]), torch.tensor([1]))
    elif name == "bce_with_logits":
        value = loss(torch.tensor([50.0]), torch.tensor([1.0]))
    else:
        value = loss(torch.tensor([1.0]), torch.tensor([1.0]))
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    assert name in components.LOSS_OUTPUTS


@pytest.mark.parametrize("name", sorted(components.OPTIMIZERS))
def test_every_optimizer_steps_downhill_on_a_quadratic(name):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = components.get("optimizer", name)([w], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    assert (w ** 2).sum().item() < 13.0


def test_sgd_momentum_update_matches_the_closed_form():
    # torch: v <- mu v + g; w <- w - lr v  (first step: v = g)
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = components.get("optimizer", "sgd_momentum")([w], lr=0.1)
    v, ref = 0.0, 1.0
    for _ in range(3):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
        v = 0.9 * v + 2 * ref
        ref = ref - 0.1 * v
    assert w.item() == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("name", sorted(datasets.DATASETS))
def test_every_dataset_is_deterministic_per_seed_and_labelled_binary(name):
    a, b, c = (datasets.make(name, 64, seed) for seed in (7, 7, 8))
    assert a.x.dtype == torch.float32 and a.y.dtype == torch.int64
    assert a.x.shape[0] == a.y.shape[0] == 64
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    assert set(a.y.tolist()) <= {0, 1}


def _class_means(p):
    return torch.stack([p.x[p.y == c].mean(dim=0) for c in (0, 1)])


def test_blobs_splits_share_one_draw_so_their_centres_agree():
    train, val, test = datasets.make_split("blobs", (400, 200, 200), [11, 12, 13])
    whole = datasets.make("blobs", 800, 11)
    assert torch.equal(torch.cat([train.x, val.x, test.x]), whole.x)
    # separate draws place the centres anew (they are drawn uniformly in a 20-wide box)
    apart = datasets.make("blobs", 200, 13)
    assert (_class_means(test) - _class_means(train)).abs().max() < 0.5
    assert (_class_means(apart) - _class_means(train)).abs().max() > 0.5


def test_fixed_distribution_splits_come_from_their_own_seeds():
    splits = datasets.make_split("spirals", (30, 20), [5, 6])
    assert torch.equal(splits[1].x, datasets.make("spirals", 20, 6).x)
    assert set(datasets.SEED_DRAWS_DISTRIBUTION) < set(datasets.DATASETS)


def test_spirals_follow_the_formula_without_noise():
    p = datasets.spirals(10, seed=3, noise=0.0)
    assert torch.all(p.y[:5] == 0) and torch.all(p.y[5:] == 1)
    g = torch.Generator().manual_seed(3)
    angles = torch.rand((10, 1), generator=g) * 10
    expect = torch.cat(((angles + 1) * torch.cos(angles), angles * torch.sin(angles)), 1)
    expect[5:] *= -1
    assert torch.allclose(p.x, expect)


def test_xor_labels_are_xor_of_the_corners():
    p = datasets.xor(200, seed=1, noise=0.0)
    assert torch.equal(p.y, (p.x[:, 0].round().long() ^ p.x[:, 1].round().long()))


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError, match="Valid names: and, blobs"):
        datasets.get("spiral")


def test_unknown_task_lists_valid_names():
    with pytest.raises(UnknownNameError, match="supervised"):
        tasks.get("nope")


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_every_task_has_valid_defaults(name):
    task = tasks.TASKS[name]
    for key, param in task.params.items():
        assert param.default is None or param.check(param.default), key
    task.check({"task": name, **task.defaults()}, lambda *a: pytest.fail(str(a)))
