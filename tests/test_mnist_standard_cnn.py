"""Issue 18's MNIST items: the CNN of the layers seed 003 names, the standard 60,000 /
10,000 split proven on generated IDX files of the official sizes, and the search's score
(last epoch, or the best epoch as Keras Tuner scores it)."""

import math

import numpy as np
import pytest
import torch
from test_mnist import learnable, tiny_config, write_part

from suite.errors import DeclarationError
from suite.seeding import derive
from suite.study import spec
from suite.tasks import mnist as mnist_task
from suite.tasks import mnist_search
from suite.training import mnist_data

CPU = torch.device("cpu")


def test_the_cnn_has_keras_parameter_count_and_shapes():
    """Keras' count for Conv2D(32, 3) -> MaxPooling2D -> Conv2D(64, 3) -> MaxPooling2D ->
    Flatten -> Dense(128) -> Dense(10) on 28 x 28 x 1: 320 + 18,496 + 204,928 + 1,290."""
    config = mnist_task.TASK.defaults() | {"architecture": "cnn"}
    model, _, _ = mnist_task.build(config, derive(0, 0), [128], 1e-3)
    assert sum(p.numel() for p in model.parameters()) == 320 + 18496 + 204928 + 1290
    assert model(torch.rand(3, 784)).shape == (3, 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    # PyTorch's default init: weights and biases within 1/sqrt(fan_in), fan_in = c_in * 9
    for conv, fan_in in zip(convs, (9, 288), strict=True):
        bound = 1 / math.sqrt(fan_in)
        assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
        assert conv.bias.abs().max() <= bound
    again, _, _ = mnist_task.build(config, derive(0, 0), [128], 1e-3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values(), strict=True))


def test_the_cnn_trains_on_generated_digits(tmp_path):
    torch.set_num_threads(1)
    write_part(tmp_path, "test", *learnable(200))
    config = tiny_config(tmp_path, architecture="cnn", conv_filters=[4, 8], hidden=[16],
                         epochs=3, lr=1e-2)
    out = mnist_task.run(config, derive(3, 0), CPU)
    assert out.status == "ok" and out.metrics["test_accuracy"] > 0.9
    assert out.metrics["n_parameters"] == (4 * 9 + 4) + (8 * 4 * 9 + 8) + (200 * 16 + 16) + 170


def test_too_many_conv_blocks_are_refused():
    raw = {"name": "m", "task": {"kind": "mnist", "architecture": "cnn"},
           "scientific": {"conv_filters": [[8, 8, 8, 8]]}}
    with pytest.raises(DeclarationError, match="a list of 1 to 3 integers in"):
        spec.parse(raw, "m.toml")


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """Generated IDX files of the official sizes: 60,000 training and 10,000 test digits
    (uncompressed, about 55 MB: the real training files are not available here)."""
    root = tmp_path_factory.mktemp("mnist-full")
    write_part(root, "train", *learnable(60000, 5), gz=False)
    write_part(root, "test", *learnable(10000, 6), gz=False)
    return root


@pytest.mark.slow
def test_the_standard_split_reads_60000_and_10000_digits(full_size):
    s = mnist_data.load_split(full_size, "standard", [1, 2])
    assert s.info["mode"] == "standard" and s.info["partition_seed"] is None
    assert s.info["sizes"] == {"train": 48000, "val": 12000, "test": 10000}
    images, labels = learnable(10000, 6)
    assert np.array_equal(s.test.y.numpy(), labels)  # the test files, whole and in order
    assert np.array_equal((s.test.x * 255).round().to(torch.uint8).numpy().reshape(-1, 28, 28),
                          images)
    dev_labels = torch.cat((s.train.y, s.val.y)).bincount().tolist()
    assert dev_labels == np.bincount(learnable(60000, 5)[1]).tolist()  # every digit once
    assert set(s.info["files"]) == {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
    assert mnist_data.load_split(full_size, "auto", [1, 2]).info["mode"] == "standard"


def test_a_trial_on_the_standard_split(full_size):
    torch.set_num_threads(1)
    config = mnist_task.TASK.defaults() | {"data_root": str(full_size), "split": "standard",
                                           "epochs": 1, "batch_size": 512, "hidden": [16]}
    mnist_task.prepare(config)
    out = mnist_task.run(config, derive(7, 0), CPU)
    assert out.status == "ok"
    assert (out.metrics["n_train"], out.metrics["n_test"]) == (48000, 10000)
    assert sum(map(sum, out.artifacts["confusion_matrix"])) == 10000
    assert out.metrics["test_accuracy"] > 0.9
    assert out.artifacts["split"]["sizes"] == {"train": 48000, "val": 12000, "test": 10000}


# -- the search's score ---------------------------------------------------------------------
def keras_tuner_score(histories: list[list[float]]) -> float:
    """Keras Tuner's objective for executions_per_trial > 1 (tuner_utils.py): each
    execution's val_accuracy at its best epoch, averaged over the executions."""
    return float(np.mean([max(h) for h in histories]))


def test_best_epoch_scores_are_keras_tuners_and_last_epoch_the_final_model(tmp_path):
    torch.set_num_threads(1)
    write_part(tmp_path, "test", *learnable(200))
    base = mnist_search.TASK.defaults() | {"data_root": str(tmp_path), "offline_test": 40,
                                           "executions": 2, "epochs": 6, "batch_size": 4}
    seeds = derive(5, 0)
    data = mnist_task.load(base, seeds)
    choice = {"hidden": [8], "lr": 3e-2}  # a noisy recipe: its accuracy falls back at times
    histories = []
    for init_seed, order_seed in zip(seeds.split("init", 2), seeds.split("order", 2),
                                     strict=True):
        *_, accuracies = mnist_search.fit(base, seeds, choice, data.train, CPU, init_seed,
                                          order_seed, data.val)
        histories.append(accuracies)
    assert all(len(h) == 6 for h in histories)
    last, _ = mnist_search.score(base, seeds, choice, data.train, data.val, CPU)
    best, _ = mnist_search.score(base | {"score": "best_epoch"}, seeds, choice, data.train,
                                 data.val, CPU)
    assert last == [h[-1] for h in histories]
    assert best == [max(h) for h in histories]
    assert np.mean(best) == keras_tuner_score(histories) >= np.mean(last)
    assert any(max(h) > h[-1] for h in histories), "the two scores never differed here"
