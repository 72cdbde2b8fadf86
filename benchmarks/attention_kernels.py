"""Which attention kernel to use for bfloat16 on the CPU: the measurement behind ``fused_attention``.

For the attention shapes the course trains, times one forward + backward pass of
``F.scaled_dot_product_attention`` three ways, in the same process, one after the other:
- ``bf16 auto``: bfloat16 inputs, PyTorch's choice of kernel (flash attention on the CPU);
- ``bf16 math``: bfloat16 inputs, PyTorch's plain math kernel (q kᵀ, softmax, times v) --
  what ``course_lib.models.transformer.fused_attention`` runs for bfloat16 CPU inputs;
- ``fp32 auto``: float32 inputs (no autocast), PyTorch's choice.
It also prints each bfloat16 kernel's largest error against a float64 computation from the
same (bfloat16-rounded) inputs, so speed is not bought with accuracy.

    python benchmarks/attention_kernels.py --threads 2

Each figure is the median of ``--repeats`` timings (default 30) after 3 warm-up passes. The
ratio ``auto / math`` is what a bfloat16 training step saves per attention call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from course_lib.models.transformer import fused_attention

# (name, (B, heads, T, Dh), masking): the course's models at their training batch sizes.
SHAPES = [
    ("benchmark GPT (ch. 09), batch 12 x 64", (12, 4, 64, 32), "causal"),
    ("10-minute char GPT (ch. 09), batch 16 x 128", (16, 4, 128, 64), "causal"),
    ("Multi30k Transformer self-attention, 128 x ~24", (128, 4, 24, 64), "padding"),
    ("Multi30k Transformer decoder, 128 x ~24", (128, 4, 24, 64), "causal"),
]


def attention_inputs(shape: tuple[int, ...], masking: str, dtype: torch.dtype):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(*shape, generator=generator).to(dtype) for _ in range(3))
    B, _, T, _ = shape
    mask = None
    if masking == "padding":
        lengths = torch.randint(T // 2, T + 1, (B,), generator=generator)
        mask = (torch.arange(T)[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)
    return q, k, v, mask, masking == "causal"


def run_kernel(kernel: str, q, k, v, mask, is_causal):
    """Output of one kernel, forward only."""
    if kernel == "math":
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)
    return F.scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)


def forward_backward_ms(kernel: str, inputs, repeats: int) -> float:
    q, k, v, mask, is_causal = inputs
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    seconds = []
    for i in range(3 + repeats):
        start = time.perf_counter()
        out = run_kernel(kernel, *leaves, mask, is_causal)
        out.float().sum().backward()
        if i >= 3:
            seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)


def max_error(kernel: str, inputs) -> float:
    q, k, v, mask, is_causal = inputs
    exact = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), mask,
                                           is_causal=is_causal)
    with torch.no_grad():
        return (run_kernel(kernel, q, k, v, mask, is_causal).double() - exact).abs().max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per kernel (default 30)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} | {torch.get_num_threads()} threads | "
          f"load average {os.getloadavg()[0]:.2f} | forward + backward, ms (median of {args.repeats})")
    for name, shape, masking in SHAPES:
        low = attention_inputs(shape, masking, torch.bfloat16)
        full = attention_inputs(shape, masking, torch.float32)
        auto, math_ms = forward_backward_ms("auto", low, args.repeats), forward_backward_ms("math", low, args.repeats)
        fp32 = forward_backward_ms("auto", full, args.repeats)
        print(f"{name:48s} {str(shape):17s} {masking:7s} | bf16 auto {auto:6.2f} | bf16 math "
              f"{math_ms:6.2f} | fp32 auto {fp32:6.2f} | auto / math {auto / math_ms:4.2f} | max error "
              f"auto {max_error('auto', low):.3f}, math {max_error('math', low):.3f}")
    q, k, v, mask, is_causal = attention_inputs(SHAPES[0][1], "causal", torch.bfloat16)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.equal(fused_attention(q, k, v, is_causal=True), expected), \
        "fused_attention no longer runs the math kernel for bfloat16 CPU inputs"
    print("fused_attention(bfloat16 CPU inputs) == the math kernel's output: yes")


if __name__ == "__main__":
    main()
