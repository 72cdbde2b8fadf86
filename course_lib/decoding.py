"""Generating text from any of the course's language models: greedy, temperature, top-k, top-p.

Shape letters: B batch, T time, V vocabulary.

``generate`` accepts three kinds of model, told apart by what a call returns:

* ``model(tokens (B, T)) -> logits (B, T, V)``: the whole context is fed again at every step,
  cropped to the last ``model.block_size`` tokens if the model has that attribute;
* ``model(tokens (B, T), state=None) -> (logits (B, T, V), state)``: a recurrent model; the
  prompt is fed once, then one token at a time with the state;
* any callable returning log-probabilities (B, T, V), such as a count-based n-gram model.
  Log-probabilities work wherever logits do: softmax turns them back into the same
  probabilities (-inf for impossible tokens is fine).

The small pure functions ``apply_temperature``, ``top_k_filter``, ``top_p_filter`` and
``sample_next`` work on logits (..., V) and can be used on their own.
"""

from __future__ import annotations

import torch
from torch import nn

# --- Choosing the next token from logits (..., V) ----------------------------------------


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``: < 1 sharpens the distribution, > 1 flattens it."""
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0, got {temperature}; for the temperature -> 0 limit "
            "(always the most likely token) use greedy=True."
        )
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep exactly the ``k`` largest logits of each row, set the rest to -inf.

    Ties at the k-th value are broken by ``torch.topk``. ``k`` >= V keeps everything.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an int >= 1, got {k!r}; use top_k=None for no limit.")
    if k >= logits.shape[-1]:
        return logits
    values, indices = logits.topk(k, dim=-1)  # (..., k)
    filtered = torch.full_like(logits, float("-inf"))
    return filtered.scatter(-1, indices, values)  # (..., V)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability is >= p.

    A token is kept when the probability of the tokens more likely than it is still < p, so
    the most likely token is always kept. ``p = 1`` keeps everything.
    """
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p!r}; use top_p=None for no limit.")
    if p == 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., V)
    probs = sorted_logits.softmax(dim=-1)  # (..., V)
    mass_before = probs.cumsum(dim=-1) - probs  # (..., V) mass of the more likely tokens
    sorted_logits = sorted_logits.masked_fill(mass_before >= p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def sample_next(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row of ``logits (B, V)``: a LongTensor (B,).

    ``greedy=True`` takes the argmax (temperature, top_k and top_p are then irrelevant).
    Otherwise: temperature, then top-k, then top-p, then one draw from the softmax, using
    ``generator`` (default: PyTorch's global generator).
    """
    if logits.dim() != 2:
        raise ValueError(f"sample_next expects logits (B, V), got shape {tuple(logits.shape)}")
    logits = logits.float()  # sample in float32 even when the model ran in bfloat16
    if greedy:
        return logits.argmax(dim=-1)  # (B,)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


# --- Language models ----------------------------------------------------------------------


def _check_prompt(prompt) -> torch.Tensor:
    if not torch.is_tensor(prompt) or prompt.dtype != torch.long or prompt.dim() not in (1, 2):
        got = f"{tuple(prompt.shape)} {prompt.dtype}" if torch.is_tensor(prompt) else type(prompt)
        raise TypeError(f"prompt must be a LongTensor of ids, (T,) or (B, T); got {got}")
    if prompt.shape[-1] == 0:
        raise ValueError("prompt is empty: start it with at least one token (e.g. <bos>).")
    return prompt if prompt.dim() == 2 else prompt[None]  # (B, T)


def _last_logits(output, kind: str) -> torch.Tensor:
    logits = output[0] if kind == "recurrent" else output
    if not torch.is_tensor(logits) or logits.dim() != 3:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits)
        raise ValueError(f"the model must return logits (B, T, V) or (logits, state); got {shape}")
    return logits[:, -1]  # (B, V)


def generate(
    model,
    prompt: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
    eos_id: int | None = None,
) -> torch.LongTensor:
    """Continue ``prompt`` (T,) or (B, T) by up to ``max_new_tokens`` tokens.

    Returns the prompt followed by the new tokens, with the prompt's rank. With ``seed``,
    sampling uses its own ``torch.Generator`` on the prompt's device (the global random state
    is left alone); without it, the global generator. With ``eos_id``, a row that produced
    it is filled with ``eos_id`` from then on, and generation stops once every row has.
    Runs without gradients and in eval mode; an ``nn.Module``'s training mode (each
    submodule's) is restored afterwards.
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise TypeError(f"max_new_tokens must be an int, got {max_new_tokens!r}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    tokens = _check_prompt(prompt)  # (B, T)
    if not greedy:  # check the options before running the model (no random draw)
        dummy = torch.zeros(1, 1)
        apply_temperature(dummy, temperature)
        if top_k is not None:
            top_k_filter(dummy, top_k)
        if top_p is not None:
            top_p_filter(dummy, top_p)
    generator = None
    if seed is not None and not greedy:
        generator = torch.Generator(device=tokens.device).manual_seed(seed)
    choose = dict(
        temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, generator=generator
    )
    modules = list(model.modules()) if isinstance(model, nn.Module) else []
    modes = [module.training for module in modules]  # each submodule's own mode
    if modules:
        model.eval()
    try:
        with torch.no_grad():
            tokens = _generate(model, tokens, max_new_tokens, eos_id, choose)
    finally:
        for module, mode in zip(modules, modes, strict=True):
            module.training = mode
    return tokens if prompt.dim() == 2 else tokens[0]


def _generate(model, tokens, max_new_tokens, eos_id, choose) -> torch.Tensor:
    if max_new_tokens == 0:
        return tokens
    block_size = getattr(model, "block_size", None)
    context = tokens if block_size is None else tokens[:, -block_size:]
    output = model(context)
    kind = "recurrent" if isinstance(output, tuple) else "full"
    finished = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)  # (B,)
    for step in range(max_new_tokens):
        next_token = sample_next(_last_logits(output, kind), **choose)  # (B,)
        if eos_id is not None:
            next_token = next_token.masked_fill(finished, eos_id)
            finished |= next_token == eos_id
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)  # (B, T + 1)
        if step == max_new_tokens - 1 or (eos_id is not None and bool(finished.all())):
            break
        if kind == "recurrent":
            output = model(next_token[:, None], output[1])  # feed one token with the state
        else:
            output = model(tokens if block_size is None else tokens[:, -block_size:])
    return tokens


# --- Sequence-to-sequence decoding ----------------------------------------------------------
# Reserved for the encoder-decoder chapters: batched greedy decoding and beam search for
# seq2seq models (encode the source once, decode the target step by step) go here, next to
# ``generate``, and reuse ``sample_next``.
