"""torch's process-wide numeric settings, read and set one way on every torch version.

torch 2.9 replaced the float32 precision switches (`torch.set_float32_matmul_precision`,
`torch.backends.cuda.matmul.allow_tf32`, `torch.backends.cudnn.allow_tf32`) by a tree of
`fp32_precision` settings, one per backend and operator: "generic" at the root, "cuda" and
"mkldnn" below it, their "matmul", "conv" and "rnn" below those. A node holds "ieee", "tf32",
"bf16" or "none" (follow the parent; "none" all the way up means IEEE float32), and reading a
node gives the value it resolves to. The old switches still exist and write the same tree,
but reading one after a new-style write raises ("a mix of the legacy and new APIs"), and the
public setter of `torch.backends.mkldnn.fp32_precision` writes the root, not mkldnn's node
(so the nodes are read and written here through `torch._C`'s getter and setter, which every
public attribute wraps). Sources: torch's MKLDNN backend notes ("Starting in PyTorch 2.9"),
the design in pytorch/pytorch#125888 (the tree, "none" overridden by the parent); what
torch 2.14.1 actually does is pinned by tests/test_numerics.py. Everything in the suite
that reads or sets these settings goes through this module:

- `precision(backend, op)`: what float32 `op`s on `backend` use now ("ieee", "tf32", "bf16");
- `set_precision(backend, op, value)`: change one, through whichever API this torch has;
- `snapshot()` / `restore(snap)` / `preserved()`: every numeric setting, restored exactly
  (the tests' leak check uses them);
- `trial_settings(threads, device)`: the context a trial runs in (`TRIAL`, the thread count,
  a forked random generator), restored afterwards; `trial_record()` is what runs record.
"""

import contextlib

import torch

BACKENDS = ("cuda", "mkldnn")
OPS = ("matmul", "conv", "rnn")
PRECISIONS = ("ieee", "tf32", "bf16")
# The nodes of torch's fp32_precision tree, parents before children.
NODES = (("generic", "all"), *((b, "all") for b in BACKENDS),
         *((b, op) for b in BACKENDS for op in OPS))
# Legacy (torch < 2.9) float32 matmul precision names, as the precision they allow.
MATMUL_PRECISION = {"highest": "ieee", "high": "tf32", "medium": "bf16"}

# What every trial runs with: IEEE float32 on every backend and operator (no TF32, no
# bfloat16 inside float32 products), cuDNN's deterministic algorithms chosen without
# benchmarking, oneDNN on (torch's default CPU kernels), float32 as the default dtype.
TRIAL = {"cudnn_deterministic": True, "cudnn_benchmark": False, "mkldnn_enabled": True,
         "default_dtype": "float32"}


def new_api() -> bool:
    """Whether this torch has the per-backend fp32_precision tree (torch >= 2.9)."""
    return hasattr(torch._C, "_get_fp32_precision_getter")


# -- float32 precision -------------------------------------------------------------------
def _node(backend: str, op: str) -> str:
    return torch._C._get_fp32_precision_getter(backend, op)


def _set_node(backend: str, op: str, value: str) -> None:
    torch._C._set_fp32_precision_setter(backend, op, value)


def _legacy(getter):
    """A legacy switch's value, or None where torch refuses to say (it raises once the new
    API has set a value the old switch cannot express)."""
    try:
        return getter()
    except RuntimeError:
        return None


# The legacy switches: (name, getter, setter). They keep state of their own beside the
# tree (a matmul precision, two TF32 flags), which a restore must put back too.
LEGACY = (
    ("fp32.legacy_matmul", torch.get_float32_matmul_precision,
     torch.set_float32_matmul_precision),
    ("fp32.legacy_cuda_matmul_tf32", lambda: torch.backends.cuda.matmul.allow_tf32,
     lambda v: setattr(torch.backends.cuda.matmul, "allow_tf32", v)),
    ("fp32.legacy_cudnn_tf32", lambda: torch.backends.cudnn.allow_tf32,
     lambda v: setattr(torch.backends.cudnn, "allow_tf32", v)),
)


def precision(backend: str, op: str) -> str:
    """The precision float32 `op`s ("matmul", "conv", "rnn") on `backend` ("cuda" or
    "mkldnn", the CPU's oneDNN) are allowed to use now: "ieee", "tf32" or "bf16"."""
    if backend not in BACKENDS or op not in OPS:
        raise ValueError(f"The backend must be one of {BACKENDS} and the op one of {OPS}. "
                         f"Got {backend!r}, {op!r} instead.")
    if new_api():
        value = _node(backend, op)
        return "ieee" if value == "none" else value
    matmul = MATMUL_PRECISION.get(torch.get_float32_matmul_precision(), "ieee")
    if backend == "cuda" and op == "matmul":
        return "tf32" if torch.backends.cuda.matmul.allow_tf32 or matmul != "ieee" else "ieee"
    if backend == "cuda":
        return "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    return matmul if op == "matmul" else "ieee"


def precisions() -> dict[str, str]:
    """`precision` of every backend and op, as {"cuda.matmul": "ieee", ...}."""
    return {f"{b}.{op}": precision(b, op) for b in BACKENDS for op in OPS}


def set_precision(backend: str, op: str, value: str) -> None:
    """Let float32 `op`s on `backend` use `value` ("ieee", "tf32" or "bf16"). Before torch
    2.9 only what the old switches can say is possible: TF32 for CUDA matmuls and cuDNN
    (conv and rnn together), and a matmul precision for every backend at once."""
    if value not in PRECISIONS:
        raise ValueError(f"The precision must be one of {PRECISIONS}. Got {value!r} instead.")
    precision(backend, op)  # checks the names
    if new_api():
        _set_node(backend, op, value)
    elif backend == "cuda" and op == "matmul" and value != "bf16":
        torch.backends.cuda.matmul.allow_tf32 = value == "tf32"
    elif backend == "cuda" and op != "matmul" and value != "bf16":
        torch.backends.cudnn.allow_tf32 = value == "tf32"
    elif backend == "mkldnn" and op == "matmul":
        torch.set_float32_matmul_precision({v: k for k, v in MATMUL_PRECISION.items()}[value])
    else:
        raise ValueError(f"torch {torch.__version__} cannot set {backend}.{op} to {value!r} "
                         "(its float32 precision switches predate torch 2.9).")


def _ieee_everywhere() -> None:
    """IEEE float32 on every node, through the old switches first so that they still answer
    afterwards (what `set_float32_matmul_precision("highest")` and no TF32 leave), then
    every node those switches do not reach."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if new_api():
        for backend, op in NODES:
            if backend == "generic" or op == "all" or (backend == "mkldnn" and op != "matmul"):
                _set_node(backend, op, "none")


# -- every numeric setting ---------------------------------------------------------------
def snapshot() -> dict:
    """Every process-wide setting that can change a computation's numbers (or whether it
    runs): float32 precisions (each node of the tree as it resolves, and the legacy matmul
    precision where torch says it), cuDNN / oneDNN flags, deterministic algorithms, the
    default dtype, and the intra-op thread count. JSON-able; `restore` puts it back."""
    fp32 = {name: _legacy(getter) for name, getter, _ in LEGACY}
    if new_api():
        fp32.update({f"fp32.{b}.{op}": _node(b, op) for b, op in NODES})
    return {**fp32,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "mkldnn_enabled": torch.backends.mkldnn.enabled,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "default_dtype": str(torch.get_default_dtype()).removeprefix("torch."),
            "threads": torch.get_num_threads()}


def restore(snap: dict) -> None:
    """Put back the settings `snapshot` returned."""
    for name, _, setter in LEGACY:
        # CUDA's matmul TF32 flag is a view of the matmul precision ("high" and "medium"
        # allow TF32): setting it after the precision would turn "medium" into "high".
        derived = name == "fp32.legacy_cuda_matmul_tf32" and snap["fp32.legacy_matmul"]
        if snap.get(name) is not None and not derived:
            setter(snap[name])
    if new_api():
        # Only nodes that still read otherwise are written (torch remembers which API wrote
        # a node last, and the old switches refuse to answer after a new-style write). A
        # node reads as its parent's value when it holds "none": where a child reads as its
        # parent does, "none" restores it (and keeps it following the parent).
        for backend, op in NODES:
            value = snap[f"fp32.{backend}.{op}"]
            if _node(backend, op) == value:
                continue
            parent = ("generic", "all") if op == "all" else (backend, "all")
            inherits = backend != "generic" and snap[f"fp32.{parent[0]}.{parent[1]}"] == value
            _set_node(backend, op, "none" if inherits else value)
    _apply_flags(snap)
    torch.use_deterministic_algorithms(snap["deterministic_algorithms"],
                                       warn_only=snap["deterministic_warn_only"])
    torch.set_num_threads(snap["threads"])


def _apply_flags(settings: dict) -> None:
    torch.backends.cudnn.deterministic = settings["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = settings["cudnn_benchmark"]
    torch.backends.mkldnn.enabled = settings["mkldnn_enabled"]
    torch.set_default_dtype(getattr(torch, settings["default_dtype"]))


def differences(before: dict, after: dict) -> list[str]:
    """'name: before -> after' for every setting that differs between two snapshots."""
    return [f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
            for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]


@contextlib.contextmanager
def preserved():
    """Run the body, then put every numeric setting back as it was before."""
    saved = snapshot()
    try:
        yield
    finally:
        restore(saved)


# -- trials ------------------------------------------------------------------------------
@contextlib.contextmanager
def trial_settings(threads: int, device: torch.device | None = None):
    """The numeric context of one trial: `TRIAL` (IEEE float32 everywhere, ...),
    `threads` intra-op threads, and torch's default generators forked, so that whatever the
    calling process set before (a reduced precision, another default dtype, a seed) changes
    neither the trial's numbers nor, afterwards, the caller's settings."""
    cuda = []
    if device is not None and device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with preserved(), torch.random.fork_rng(devices=cuda):
        _ieee_everywhere()
        _apply_flags(TRIAL)
        torch.set_num_threads(threads)
        yield


def trial_record() -> dict:
    """The numeric settings trials run with, as this torch reports them inside
    `trial_settings` (a run records it in its environment; `suite verify` compares)."""
    with trial_settings(torch.get_num_threads()):
        now = snapshot()
        return {"fp32_precision": precisions(), **{k: now[k] for k in TRIAL}}


def describe(record: dict | None) -> str:
    """A `trial_record` in one line, for people ("not recorded" for runs of older suites)."""
    if not record:
        return "not recorded"
    fp32 = record.get("fp32_precision", {})
    values = set(fp32.values())
    precision = (f"float32 {values.pop()} everywhere" if len(values) == 1 else
                 "float32 " + ", ".join(f"{k} {v}" for k, v in sorted(fp32.items())))
    flags = ", ".join(f"{k} {v}" for k, v in sorted(record.items()) if k != "fp32_precision")
    return f"{precision}; {flags}"
