"""Class-area control of a segmentation net: reach a target pixel share of one class.

The class-area notebook's second study, on the final 1x1 convolution of a segmentation
network. The area is the fraction of pixels, over a set of images, whose argmax is the
target class; the target is target_ratio (0.91) x the original. The weight path, searches
and records are those of the MLP study (`suite.tasks.weight_path`, `suite.tasks.area_control`),
`tpe_parallel` (TPE trials per round, default 1) included.

Models: "small" (the offline default): `suite.training.shapes.SegNet` trained here on generated
images (bright disks = class 1, dark squares = class 2 on noise), area measured on fresh
generated images; "deeplabv3_resnet50": torchvision's DeepLabV3-ResNet50 with its COCO/VOC
weights, only when the weights file is present locally (never downloaded), on the
images of `image_dir` (or generated ones); its logits are upsampled bilinearly after the
final convolution, and the fast area path follows that upsampling exactly;
"deeplabv3_resnet50_random": the same network built by torchvision with random weights
(seeded from the trial's init seed), for machines without the weights: it runs the
DeepLab code path (backbone features, final 1x1 convolution, upsampling, area) on reduced
inputs, and its areas say nothing about segmentation; the trial and the report page say
that pretrained weights were not used. `target_class = -1` controls the class with the
most pixels before any change (a random network rarely predicts class 1 at all); the
class used is in the trial's artifacts.
"""

import torch
import torch.nn.functional as F

from suite.seeding import TrialSeeds
from suite.tasks import area_control
from suite.tasks import params as P
from suite.tasks._search_notes import tpe_rounds
from suite.tasks.area import Setting
from suite.tasks.base import Task, TrialContext, TrialOutcome, unit_bounds
from suite.training import components, shapes
from suite.training.datasets import Points
from suite.training.recipe import train

MODELS = {"small": "SegNet trained here on generated images",
          "deeplabv3_resnet50": "torchvision DeepLabV3-ResNet50, local COCO/VOC weights",
          "deeplabv3_resnet50_random": "torchvision DeepLabV3-ResNet50 with random (seeded) "
                                       "weights: the model path without pretrained weights"}
N_CLASSES = {"small": len(shapes.CLASSES), "deeplabv3_resnet50": 21,
             "deeplabv3_resnet50_random": 21}
NOT_PRETRAINED = ("Pretrained weights were not used: DeepLabV3-ResNet50 was built with random "
                  "weights (seeded from each trial's init seed), so its areas exercise the "
                  "DeepLab code path and say nothing about segmentation quality.")

PARAMS = {
    "model": P.choice("small", MODELS, "segmentation model"),
    "n_train_images": P.size("images", 64, 1, doc="training images (small model)"),
    "n_val_images": P.size("images", 16, 1, doc="validation images (small model)"),
    "image_size": P.size("pixels", 32, 8, doc="training image side (pixels)"),
    "n_area_images": P.size("images", 16, 1, doc="images the area is measured on"),
    "area_image_size": P.size("pixels", 64, 8, doc="side of those images (pixels)"),
    "noise": P.non_negative_float(0.5, "pixel noise of the generated images"),
    "width": P.size("width", 16, 1, doc="channels of the small net's hidden layers"),
    "optimizer": P.choice("adam", components.OPTIMIZERS, "optimiser"),
    "lr": P.positive_float(0.01, "learning rate"),
    "batch_size": P.size("batch", 8, 1, doc="images per minibatch"),
    "epochs": P.size("epochs", 15, 1, doc="training epochs (small model)"),
    "target_class": P.size("count", 1, -1, doc="the class whose area is controlled (-1: "
                            "the class with the most pixels before any change)"),
    "chunk_images": P.size("images", 4, 1, doc="images per forward pass"),
    "deeplab_weights": P.Param("", "a path to the weights file, or '' for torch hub's "
                               "checkpoints folder", lambda v: isinstance(v, str), ""),
    "image_dir": P.Param("", "a folder of .jpg/.png images, or '' for generated ones",
                         lambda v: isinstance(v, str), "images for DeepLab"),
    **area_control.PARAMS,
    "target_ratio": P.positive_float(0.91, "target area / original area"),
    "tolerance": P.positive_float(0.01, "|area / target - 1| that counts as reached"),
}

METRICS = (*area_control.METRICS, "train_accuracy", "val_accuracy", "final_loss")
CURVES = ("train_loss", "val_loss", "val_accuracy")
FIGURES = ("class_area_masks", "class_area_curve", "class_area_history")


def check(config, fail) -> None:
    n = N_CLASSES[config["model"]]
    if config["target_class"] >= n:
        fail("target_class", f"a class of model '{config['model']}' (0 to {n - 1})",
             config["target_class"])


def images(config, seeds: TrialSeeds):
    """(train, validation, area) image sets; each generated set from its own data seed."""
    s_train, s_val, s_area = seeds.split("data", 3)
    size, noise = config["image_size"], config["noise"]
    train_set = Points(*shapes.shape_images(config["n_train_images"], size, s_train, noise))
    val_set = Points(*shapes.shape_images(config["n_val_images"], size, s_val, noise))
    area_set = shapes.shape_images(config["n_area_images"], config["area_image_size"], s_area,
                                   noise)
    return train_set, val_set, area_set


def fit_small(config, seeds: TrialSeeds, device: torch.device):
    tr, va, (area_x, _labels) = images(config, seeds)
    tr, va = tr.to(device), va.to(device)
    model = shapes.init_conv_(shapes.SegNet(width=config["width"]),
                              seeds.generator("init")).to(device)
    optimizer = components.get("optimizer", config["optimizer"])(model.parameters(),
                                                                lr=config["lr"])
    history = train(model, torch.nn.CrossEntropyLoss(), "cross_entropy", optimizer, tr, va,
                    config["epochs"], config["batch_size"], seeds.generator("order"))
    return model.eval(), area_x, tr, va, history


def setting(config, model, area_x: torch.Tensor, device) -> Setting:
    """The area setting: chunks of `chunk_images` images; DeepLab adds its upsampling."""
    b = config["chunk_images"]
    n_chunks = -(-area_x.shape[0] // b)

    def chunk(i):
        return area_x[i * b:(i + 1) * b].to(device)

    if config["model"] == "small":
        return Setting(model, "final", config["target_class"], n_chunks, chunk)
    return Setting(model, "classifier.4", config["target_class"], n_chunks, chunk,
                   output=lambda out: out["out"], tail=upsample, tail_terms=4)


def upsample(z: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """What DeepLabV3's forward does after its classifier."""
    return F.interpolate(z, size=shape[-2:], mode="bilinear", align_corners=False)


@torch.inference_mode()
def dominant_class(model, area_x: torch.Tensor, config, device) -> int:
    """The class with the most pixels in the unchanged model's prediction (lowest on ties)."""
    b, counts = config["chunk_images"], None
    for i in range(0, area_x.shape[0], b):
        out = model(area_x[i:i + b].to(device))
        out = out["out"] if isinstance(out, dict) else out
        c = torch.bincount(out.argmax(dim=1).flatten(), minlength=out.shape[1]).cpu()
        counts = c if counts is None else counts + c
    return int(torch.argmax(counts))


def deeplab_inputs(config, seeds: TrialSeeds) -> torch.Tensor:
    size = config["area_image_size"]
    if config["image_dir"]:
        raw = shapes.folder_images(config["image_dir"], size)
    else:
        raw = shapes.generated_rgb(config["n_area_images"], size, seeds.split("data", 3)[2],
                                   config["noise"])
    return shapes.imagenet_normalise(raw)


def run(config, seeds: TrialSeeds, device: torch.device,
        context: TrialContext | None = None) -> TrialOutcome:
    weights = "trained here"
    if config["model"] == "small":
        model, area_x, tr, va, history = fit_small(config, seeds, device)
    elif config["model"] == "deeplabv3_resnet50_random":
        model = shapes.random_deeplab(seeds.init).to(device)
        area_x, history, weights = deeplab_inputs(config, seeds), None, "random (not pretrained)"
    else:
        model = shapes.load_deeplab(config["deeplab_weights"]).to(device)
        area_x, history = deeplab_inputs(config, seeds), None
        weights = str(shapes.deeplab_weights_path(config["deeplab_weights"]))
    cls = config["target_class"]
    if cls < 0:
        cls = dominant_class(model, area_x, config, device)
    metrics, artifacts = area_control.control(setting(config | {"target_class": cls}, model,
                                                      area_x, device),
                                              cls, config, seeds, context)
    artifacts["images"] = {"n": int(area_x.shape[0]), "size": list(area_x.shape[-2:]),
                           "source": config["image_dir"] or "generated"}
    artifacts |= {"target_class": cls, "weights": weights}
    if config["model"] == "deeplabv3_resnet50_random":
        artifacts["page_notes"] = [NOT_PRETRAINED]
    if history is None:
        return TrialOutcome("ok", metrics, {}, artifacts)
    with torch.inference_mode():
        metrics["train_accuracy"] = _pixel_accuracy(model, tr)
        metrics["val_accuracy"] = _pixel_accuracy(model, va)
    metrics["final_loss"] = history.train_loss[-1]
    return TrialOutcome(history.status, metrics, history.curves(),
                        artifacts, {"state_dict": shapes.state_bytes(model)},
                        note=history.note)


def _pixel_accuracy(model, pts: Points) -> float:
    return (model(pts.x).argmax(dim=1) == pts.y).double().mean().item()


TASK = Task(name="segmentation-class-area", description=__doc__.strip().splitlines()[0],
            params=PARAMS, metrics=METRICS, curves=CURVES, figures=FIGURES, run=run,
            check=check, timings=area_control.TIMINGS, report_notes=tpe_rounds,
            bounds=unit_bounds("original_area", "target_area", "monotone", "train_accuracy",
                               "val_accuracy"))
