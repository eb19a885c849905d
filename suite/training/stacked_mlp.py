"""Many MLPs of one shape as one model: stacked weights, batched matrix products, a
hand-written backward pass and one flat parameter for one optimiser.

A model's numbers must not depend on which other models share its batch (resume and
`verify` rely on it), so on the CPU every operation computes a model's slice exactly as
it would compute it alone:

- Matrix products. MKL's batched GEMM rounds a slice differently depending on its
  address modulo 16 bytes, so every feature dimension is padded to a multiple of ALIGN
  floats and every block starts on a BLOCK boundary. Padding units have zero weights and
  a zero gradient (`pad_mask`), so they never change a real unit.
- Elementwise ops. Torch's vectorised CPU loops finish with a scalar tail, and the
  scalar and vector code of exp, tanh, fused multiply-adds (the optimisers' `add_(alpha=)`,
  `addcmul_`) may round differently. Such ops run over whole buffers whose length is a
  multiple of VEC floats (`Scratch.whole`), so no element falls in a tail; lanes are
  independent.
- Reductions run along one model's rows (per-model sums of losses and gradients).

The optimiser sees one flat parameter; torch's optimisers act elementwise, so each
model keeps its own state. The gradient is that of the sum over models of each model's
mean loss, so each model's gradient is its own. `tests/test_batched.py` trains models in
batches and alone and compares the bytes.
"""

import math

import torch
from torch.nn import functional as F

VEC = 32  # floats: two AVX-512 registers, one step of torch's vectorised loops
ALIGN = 4  # floats: 16 bytes, the alignment the batched GEMM needs to round alike
BLOCK = 16  # floats: 64 bytes, where each block of the flat parameter starts
OPS = torch.ops.aten


def up(n: int, m: int) -> int:
    return -(-n // m) * m


def _noop(*args):
    return None


# name -> (forward in place on a flat buffer, backward in place: (grad, output) -> grad).
# Each backward needs only the activation's output, so forward can overwrite its input.
ACTIVATIONS = {
    "relu": (torch.relu_, lambda g, y: OPS.threshold_backward.grad_input(g, y, 0, grad_input=g)),
    "sigmoid": (torch.sigmoid_, lambda g, y: OPS.sigmoid_backward.grad_input(g, y, grad_input=g)),
    "tanh": (torch.tanh_, lambda g, y: OPS.tanh_backward.grad_input(g, y, grad_input=g)),
    "elu": (F.elu_, lambda g, y: OPS.elu_backward.grad_input(g, 1.0, 1, 1, True, y,
                                                             grad_input=g)),
    "identity": (_noop, _noop),  # (its backward leaves the gradient as it is)
}


class Scratch:
    """Named reusable buffers. `take(name, shape)` gives a contiguous view at the start
    of a buffer whose length is rounded up to VEC; `whole(view)` gives that rounded
    prefix, the region tail-free elementwise ops run over."""

    def __init__(self, device):
        self.device = device
        self.buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, *shape: int) -> torch.Tensor:
        n = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.numel() < up(n, VEC):
            buf = self.buffers[name] = torch.zeros(up(n, VEC), device=self.device)
        return buf[:n].view(shape)

    @staticmethod
    def whole(view: torch.Tensor) -> torch.Tensor:
        """The buffer behind `view` (taken from this class) cut at the next VEC floats."""
        n = up(view.numel(), VEC)
        return view.as_strided((n,), (1,), view.storage_offset())


class Pass:
    """The buffers of one forward and backward pass over `rows` rows, made once per row
    count: per layer its output `a` (after the activation) and the gradient `gin` with
    respect to its input, each with its `whole` region; the targets `t`; and the loops'
    arguments, bound once (a step runs ~30 small ops, so Python overhead counts)."""

    def __init__(self, net: "StackedMLP", rows: int):
        S, p, take, whole = net.S, net.padded, net.scratch.take, Scratch.whole
        L = net.n_layers
        self.rows = rows
        self.a = [take(f"a{l}", S, rows, p[l + 1]) for l in range(L)]
        self.gin = [take(f"g{l}", S, rows, p[l]) for l in range(L)]
        self.d = [take(f"d{l}", S, rows, p[l + 1]) for l in range(L - 1)]
        self.g_out = take("g_out", S, rows, p[-1])
        self.t = take("t", S, rows, p[-1])
        self.a_whole, self.gin_whole = [whole(a) for a in self.a], [whole(g) for g in self.gin]
        self.g_out_whole, self.t_whole = whole(self.g_out), whole(self.t)
        self.forward = [(net.b[l], net.Wt[l], self.a[l], self.a_whole[l], net.acts[l][0])
                        for l in range(L)]
        grads = [*self.gin[1:], self.g_out]  # gradient wrt layer l's pre-activation
        self.backward = [(grads[l], grads[l].mT, self.a[l - 1], net.gW[l], net.gb[l], net.W[l],
                          self.gin[l], self.gin_whole[l], self.a_whole[l - 1],
                          net.acts[l - 1][1]) for l in range(L - 1, 0, -1)]
        self.first = (grads[0], grads[0].mT, net.gW[0], net.gb[0])


class StackedMLP:
    """S MLPs of sizes `sizes` (inputs, hidden widths, outputs) with their weights in one
    flat tensor. `activations` has one name per hidden layer; `output` is the output
    activation; `dropout` the probability after each hidden layer (training only)."""

    def __init__(self, n_models: int, sizes, activations, output: str, dropout: float = 0.0,
                 device="cpu"):
        self.S, self.sizes, self.device = n_models, list(sizes), torch.device(device)
        self.acts = [ACTIVATIONS[a] for a in activations] + [ACTIVATIONS[output]]
        self.dropout = dropout
        self.padded = [up(n, ALIGN) for n in self.sizes]
        self.scratch = Scratch(self.device)
        self._lay_out()
        self.Wt = [W.mT for W in self.W]
        self.passes: dict[int, Pass] = {}

    def _lay_out(self):
        """Layer-major blocks [S, out, in] and [S, 1, out], each starting on a BLOCK."""
        S, p, offsets, end = self.S, self.padded, [], 0
        for n_in, n_out in zip(p, p[1:], strict=False):
            w = end
            b = up(w + S * n_out * n_in, BLOCK)
            end = up(b + S * n_out, BLOCK)
            offsets.append((w, b, n_out, n_in))
        self.flat = torch.zeros(up(end, VEC), device=self.device)
        self.grad = torch.zeros_like(self.flat)
        self.pad_mask = torch.ones_like(self.flat, dtype=torch.bool)
        self.weight_mask = torch.zeros_like(self.flat)  # 1 on real weights (not biases)
        self.W, self.b, self.gW, self.gb = [], [], [], []
        for (w, b, n_out, n_in), real_in, real_out in zip(offsets, self.sizes, self.sizes[1:],
                                                           strict=False):
            self.W.append(self.flat[w:w + S * n_out * n_in].view(S, n_out, n_in))
            self.b.append(self.flat[b:b + S * n_out].view(S, 1, n_out))
            self.gW.append(self.grad[w:w + S * n_out * n_in].view(S, n_out, n_in))
            self.gb.append(self.grad[b:b + S * n_out].view(S, n_out))
            self._mark(w, b, n_out, n_in, real_out, real_in)

    def _mark(self, w, b, n_out, n_in, real_out, real_in):
        S = self.S
        self.pad_mask[w:w + S * n_out * n_in].view(S, n_out, n_in)[:, :real_out, :real_in] = False
        self.pad_mask[b:b + S * n_out].view(S, n_out)[:, :real_out] = False
        self.weight_mask[w:w + S * n_out * n_in].view(S, n_out, n_in)[:, :real_out, :real_in] = 1

    @property
    def n_layers(self) -> int:
        return len(self.W)

    # -- weights in and out -------------------------------------------------------------

    def load(self, s: int, linears) -> None:
        """Copy model s's weights from its nn.Linear layers (in order)."""
        self.set_weights(s, [(lin.weight, lin.bias) for lin in linears])

    @torch.no_grad()
    def set_weights(self, s: int, weights) -> None:
        """Model s's weights from `weights(s)`'s format."""
        for W, b, (w, bias) in zip(self.W, self.b, weights, strict=True):
            W[s, :w.shape[0], :w.shape[1]] = w
            b[s, 0, :bias.shape[0]] = bias

    @torch.no_grad()
    def weights(self, s: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Model s's (weight [out, in], bias [out]) per layer, unpadded copies on the CPU."""
        real = self.sizes
        return [(W[s, :o, :i].cpu().clone(), b[s, 0, :o].cpu().clone())
                for W, b, o, i in zip(self.W, self.b, real[1:], real, strict=False)]

    # -- forward and backward ------------------------------------------------------------

    def pass_for(self, rows: int) -> Pass:
        """The buffers for `rows` rows."""
        p = self.passes.get(rows)
        if p is None:
            p = self.passes[rows] = Pass(self, rows)
        return p

    def forward(self, x: torch.Tensor, p: Pass, masks=None) -> torch.Tensor:
        """Every layer's output into `p.a` for inputs x [S, rows, padded inputs] (any
        batch stride); returns the output layer after its activation. With `masks`
        (dropout, one per hidden layer) hidden outputs times their mask go to `p.d`."""
        h = x
        for l, (b, Wt, a, whole, act) in enumerate(p.forward):
            torch.baddbmm(b, h, Wt, out=a)
            act(whole)
            h = a if masks is None or l == len(p.d) else torch.mul(a, masks[l], out=p.d[l])
        return h

    def backward(self, x: torch.Tensor, p: Pass, masks=None) -> None:
        """Fill `self.grad` from `p.g_out`, the gradient of the loss with respect to the
        output layer's pre-activation (see `output_backward`), for the inputs x."""
        if masks is not None:
            return self._backward_dropout(x, p, masks)
        for g, gT, h, gW, gb, W, gin, gin_whole, a_whole, act_backward in p.backward:
            torch.bmm(gT, h, out=gW)
            torch.sum(g, 1, out=gb)
            torch.bmm(g, W, out=gin)
            act_backward(gin_whole, a_whole)
        g, gT, gW, gb = p.first
        torch.bmm(gT, x, out=gW)
        torch.sum(g, 1, out=gb)
        self.grad.masked_fill_(self.pad_mask, 0.0)  # padding stays exactly zero

    def _backward_dropout(self, x, p: Pass, masks) -> None:
        for l, (g, gT, _, gW, gb, W, gin, gin_whole, a_whole, act_backward) in zip(
                range(self.n_layers - 1, 0, -1), p.backward, strict=True):
            torch.bmm(gT, p.d[l - 1], out=gW)
            torch.sum(g, 1, out=gb)
            torch.bmm(g, W, out=gin).mul_(masks[l - 1])
            act_backward(gin_whole, a_whole)
        g, gT, gW, gb = p.first
        torch.bmm(gT, x, out=gW)
        torch.sum(g, 1, out=gb)
        self.grad.masked_fill_(self.pad_mask, 0.0)

    def output_backward(self, p: Pass) -> None:
        """In place on `p.g_out`: from the gradient with respect to the output activation's
        output to that with respect to its input."""
        self.acts[-1][1](p.g_out_whole, p.a_whole[-1])
