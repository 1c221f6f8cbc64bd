"""LeNet's first layer, a 5x5 convolution and the 2x2 max-pool after it, several times faster on a CPU core
with the same numbers (benchmarks/lenet_throughput.py measures it; tests/test_conv_pool.py checks it).

With one or three input channels, oneDNN computes this layer far below the core's speed: the input gradient
of the convolution runs at about 4 GFLOP/s, and ``max_pool2d`` on a (N, C, H, W) tensor costs more than the
convolution before it. ``conv_pool`` computes the same function differently, on a CPU:

- The convolution is evaluated at each phase (ry, rx) of the pooling window separately, as one stride-2
  convolution with 4 x C_out output channels, whose kernels are the 5x5 kernel at offset (ry, rx) of a 6x6
  one. oneDNN sums the same products in the same order, so the values are bit-identical to ``F.conv2d``'s,
  and so are their ties: a patch of constant background gives four equal values, and the tie decides which
  pixel gets the gradient.
- The pool is ``max_pool2d`` itself, on a view in which the four phases form each 2x2 window (a channels-last
  layout, which it computes fast), so its tie rule is kept: the first maximum in row-major window order.
- The input gradient, the adjoint of the convolution, is computed on 4x4 space-to-depth blocks (16 pixels
  become 16 channels, the kernel 2x2 blocks), where oneDNN runs near its best. It adds the same products in
  another order: float noise, within 1e-5 relative of ``F.conv2d``'s gradient (tested; measured ~3e-7).
- The weight gradient is F.conv2d's own: max_pool2d's backward (as ``max_unpool2d``) gives the gradient of the
  convolution's output, and oneDNN's weight-gradient kernel of the 5x5 convolution takes it, so training
  computes bit for bit what the plain layers compute, and gives the same checkpoints. The two gradients are
  separate autograd nodes, so an attack, which asks for the input's gradient only, never pays for the weights'.

On other devices it is the plain ``max_pool2d(conv(x), 2)``: cuDNN has none of these slow paths.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLOCK = 4  # space-to-depth factor of the input gradient
PHASES = [(0, 0), (0, 1), (1, 0), (1, 1)]  # the 2x2 window in max_pool2d's scan order


def conv_pool(x: Tensor, conv: nn.Conv2d, phases: bool | None = None) -> Tensor:
    """``F.max_pool2d(conv(x), 2)``, computed by phases (as above) if ``phases``; None: on a CPU only.

    ``conv``: stride 1, no padding, no dilation or groups, an odd kernel k with 4 | k - 1 (LeNet's 5x5);
    x: (N, C, H, W) with H, W and H - k + 1, W - k + 1 multiples of 4.
    """
    if phases is None:
        phases = x.device.type == "cpu"
    if not phases:
        return F.max_pool2d(conv(x), 2)
    _check(x, conv)
    weight, bias = conv.weight, conv.bias
    with torch.no_grad():  # the values only: each gradient has its own node below
        values = F.conv2d(x, _phase_kernels(weight), None if bias is None else bias.repeat(len(PHASES)), stride=2)
        pooled, window = _phase_max(values)
    parameters = [p for p in (weight, bias) if p is not None and p.requires_grad]
    if not torch.is_grad_enabled() or not (x.requires_grad or parameters):
        return pooled
    # Two nodes, so that autograd runs only the one asked for: an attack wants the input's gradient alone
    token = _WeightGradient.apply(pooled, window, x.detach(), weight, bias) if parameters else None
    return _Gradients.apply(pooled, window, x, weight.detach(), token)


def max_pool(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 2)``; on a CPU through its channels-last kernel, which on LeNet's second layer costs a
    fifth of the (N, C, H, W) one, copy included, with the same values, tie rule and gradient."""
    if x.device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    return F.max_pool2d(x, 2)


def _check(x: Tensor, conv: nn.Conv2d) -> None:
    k = conv.kernel_size[0]
    plain = (conv.stride, conv.padding, conv.dilation, conv.groups) == ((1, 1), (0, 0), (1, 1), 1)
    if not (plain and conv.kernel_size == (k, k) and (k - 1) % BLOCK == 0):
        raise ValueError(f"conv={conv} is not allowed; conv_pool takes a k x k convolution with 4 | k - 1, stride 1, "
                         "no padding, dilation or groups")
    sizes = [*x.shape[2:], *(n - k + 1 for n in x.shape[2:])]
    if x.dim() != 4 or any(n % BLOCK for n in sizes):
        raise ValueError(f"x of shape {tuple(x.shape)} is not allowed; conv_pool needs (N, C, H, W) with H, W, "
                         f"H - {k - 1} and W - {k - 1} multiples of {BLOCK}")


def _phase_kernels(weight: Tensor) -> Tensor:
    """(O, C, k, k) -> (4 O, C, k + 1, k + 1): block p holds the kernel at offset PHASES[p]."""
    return torch.cat([F.pad(weight, (rx, 1 - rx, ry, 1 - ry)) for ry, rx in PHASES])


def _block_kernels(weight: Tensor) -> Tensor:
    """The convolution on BLOCK x BLOCK space-to-depth blocks (s = BLOCK, K = (k - 1) / s + 1 blocks a side):
    W'[out, (c, py, px), A, B] = w[o, c, s A + py - dy, s B + px - dx], zero outside the kernel.

    Output rows are ordered (ry, rx, o, a, b) with dy = 2 a + ry, dx = 2 b + rx: the layout in which
    _InputGradient scatters the pooled gradient (phase, channel, position within the 2x2 block of windows).
    """
    O, C, k, _ = weight.shape
    s, K = BLOCK, (k - 1) // BLOCK + 1
    padded = F.pad(weight, (s - 1,) * 4)  # every tap index below falls inside, the padding gives the zeros
    d, A = torch.arange(s), torch.arange(K)
    tap = (s * A.view(1, 1, K) + d.view(1, s, 1) - d.view(s, 1, 1) + s - 1).to(weight.device)  # (dy, py, A)
    w = padded[:, :, tap.view(s, s, K, 1, 1, 1), tap.view(1, 1, 1, s, s, K)]  # o c dy py A dx px B
    w = w.reshape(O, C, s // 2, 2, s, K, s // 2, 2, s, K)  # o c a ry py A b rx px B
    return w.permute(3, 7, 0, 2, 6, 1, 4, 8, 5, 9).reshape(s * s * O, s * s * C, K, K)


def _phase_max(values: Tensor) -> tuple[Tensor, Tensor]:
    """Max over the four phase blocks of (N, 4 C, H, W): (N, C, H, W) and the winning phase (0 to 3) of each."""
    N, C4, H, W = values.shape
    C = C4 // len(PHASES)
    # the phases as a 2x2 window over C H W channels, channels-last: max_pool2d's fast kernel, and its tie rule
    pooled, window = F.max_pool2d(values.reshape(N, 2, 2, C * H * W).permute(0, 3, 1, 2), 2, return_indices=True)
    return pooled.view(N, C, H, W), window.view(N, C, H, W)


class _WeightGradient(torch.autograd.Function):
    """A zero token whose backward gives the weight and bias the gradient of max_pool2d(conv2d(x, weight), 2)."""

    @staticmethod
    def forward(ctx, pooled: Tensor, window: Tensor, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(window, x, weight)
        ctx.bias = bias is not None
        return pooled.new_zeros(()).expand(pooled.shape)

    @staticmethod
    def backward(ctx, grad: Tensor):
        window, x, weight = ctx.saved_tensors
        N, C, H, W = window.shape
        # max_pool2d's own backward: each window's gradient at its maximum of the (2 H, 2 W) output...
        rows, cols = torch.arange(H, device=x.device).view(H, 1), torch.arange(W, device=x.device)
        offsets = torch.tensor([ry * 2 * W + rx for ry, rx in PHASES], device=x.device)  # of each phase in a window
        at = 2 * rows * 2 * W + 2 * cols + offsets.take(window)  # (take: integer division here costs more than the pool)
        output_grad = F.max_unpool2d(grad, at, 2, output_size=(2 * H, 2 * W))
        # ... and the convolution's own weight gradient: bit for bit what F.conv2d's backward computes
        _, weight_grad, bias_grad = torch.ops.aten.convolution_backward(
            output_grad, x, weight, [weight.shape[0]] if ctx.bias else None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
            [False, ctx.needs_input_grad[3], ctx.needs_input_grad[4]])
        return None, None, None, weight_grad, bias_grad


class _Gradients(torch.autograd.Function):
    """The identity on the pooled values; its backward gives x the gradient of max_pool2d(conv2d(x, weight), 2)
    and hands the weights' to their token."""

    @staticmethod
    def forward(ctx, pooled: Tensor, window: Tensor, x: Tensor, weight: Tensor, token: Tensor | None) -> Tensor:
        ctx.save_for_backward(window, weight)
        return pooled

    @staticmethod
    def backward(ctx, grad: Tensor):
        x_grad = None
        if ctx.needs_input_grad[2]:
            window, weight = ctx.saved_tensors
            N, C, H, W = grad.shape
            h, w = H // 2, W // 2
            # conv output gradient in block layout (N, phase, C, a, b, i, j), output pixel (4 i + 2 a + ry, 4 j + 2 b + rx)
            blocks = grad.new_zeros(N, len(PHASES), C, 2, 2, h, w)
            by_window = (N, 1, C, h, 2, w, 2)  # pooled pixel (2 i + a, 2 j + b)
            blocks.permute(0, 1, 2, 5, 3, 6, 4).scatter_(1, window.view(by_window), grad.reshape(by_window))
            x_grad = F.pixel_shuffle(F.conv_transpose2d(blocks.view(N, BLOCK * BLOCK * C, h, w), _block_kernels(weight)), BLOCK)
        return None, None, x_grad, None, grad if ctx.needs_input_grad[4] else None
