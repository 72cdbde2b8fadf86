"""Generating text from any of the course's language models: greedy, temperature, top-k, top-p.

Shape letters: B batch, T time, V vocabulary.

``generate`` accepts four kinds of model:

* ``model(tokens (B, T)) -> logits (B, T, V)``: the whole context is fed again at every step,
  cropped to the last ``model.block_size`` tokens if the model has that attribute;
* the same with a ``new_cache()`` method and ``model(tokens, cache) -> logits`` (the GPT's
  KV cache, extended in place): the prompt is fed once, then one token at a time with the
  cache (``use_cache=False`` feeds the whole context instead, for comparison);
* ``model(tokens (B, T), state=None) -> (logits (B, T, V), state)``: a recurrent model; the
  prompt is fed once, then one token at a time with the state;
* any callable returning log-probabilities (B, T, V), such as a count-based n-gram model.
  Log-probabilities work wherever logits do: softmax turns them back into the same
  probabilities (-inf for impossible tokens is fine).

The small pure functions ``apply_temperature``, ``top_k_filter``, ``top_p_filter`` and
``sample_next`` work on logits (..., V) and can be used on their own.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

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


@contextmanager
def _inference(model):
    """No gradients, eval mode; each submodule's training mode is restored afterwards."""
    modules = list(model.modules()) if isinstance(model, nn.Module) else []
    modes = [module.training for module in modules]
    for module in modules:
        module.training = False
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in zip(modules, modes, strict=True):
            module.training = mode


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
    use_cache: bool = True,
) -> torch.LongTensor:
    """Continue ``prompt`` (T,) or (B, T) by up to ``max_new_tokens`` tokens.

    Returns the prompt followed by the new tokens, with the prompt's rank. With ``seed``,
    sampling uses its own ``torch.Generator`` on the prompt's device (the global random state
    is left alone); without it, the global generator. With ``eos_id``, a row that produced
    it is filled with ``eos_id`` from then on, and generation stops once every row has.
    Runs without gradients and in eval mode; an ``nn.Module``'s training mode (each
    submodule's) is restored afterwards. A model with a ``new_cache`` method is run with its
    cache unless ``use_cache=False`` (the same tokens, computed more slowly).
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
    with _inference(model):
        tokens = _generate(model, tokens, max_new_tokens, eos_id, choose, use_cache)
    return tokens if prompt.dim() == 2 else tokens[0]


def _generate(model, tokens, max_new_tokens, eos_id, choose, use_cache) -> torch.Tensor:
    if max_new_tokens == 0:
        return tokens
    block_size = getattr(model, "block_size", None)
    context = tokens if block_size is None else tokens[:, -block_size:]
    cache = model.new_cache() if use_cache and hasattr(model, "new_cache") else None
    output = model(context) if cache is None else model(context, cache)
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
        elif cache is not None:
            output = model(next_token[:, None], cache)  # one token; the model extends the cache
        else:
            output = model(tokens if block_size is None else tokens[:, -block_size:])
    return tokens


# --- Sequence-to-sequence decoding ----------------------------------------------------------
# Batched greedy decoding (``greedy_decode``) and beam search (``beam_search``) for the
# encoder-decoder models of chapters 07-09: encode the source once, then decode the target
# step by step.
#
# The protocol, shared by every encoder-decoder of the course (``models.seq2seq.Seq2Seq``,
# ``AttentionSeq2Seq`` and ``models.transformer.TransformerSeq2Seq``, which also share
# ``forward(src, src_lengths, tgt_in)`` and ``models.seq2seq.seq2seq_loss``):
# ``model.encode(src (B, S), src_lengths (B,)) -> state``;
# ``model.decode_step(prev_tokens (B,), state) -> (logits (B, V), new_state)``; and
# ``state.select(index (B',)) -> state`` with the batch rows ``index`` (to repeat each sentence
# once per beam and to reorder beams). Nothing else about the state is used.
# Outputs never contain <bos>; a hypothesis that ended contains its <eos>; ``max_len`` counts
# every generated token, <eos> included.


class Hypothesis(NamedTuple):
    """One finished beam: ``tokens`` (ending in <eos>, unless cut at ``max_len``), ``log_prob``
    (sum of the tokens' log-probabilities) and ``score`` (``log_prob`` / length penalty)."""

    tokens: list[int]
    score: float
    log_prob: float


def _check_decode_args(src, max_len: int, bos_id: int, eos_id: int, min_len: int = 0) -> None:
    if not torch.is_tensor(src) or src.dim() != 2:
        raise ValueError("src must be a LongTensor (B, S); for one sentence use src[None]")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
    if isinstance(min_len, bool) or not isinstance(min_len, int) or not 0 <= min_len < max_len:
        raise ValueError(f"min_len must be an int in [0, max_len), got {min_len!r} with max_len={max_len}")
    if bos_id == eos_id:
        raise ValueError("bos_id and eos_id must differ")


def greedy_decode(
    model, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int, bos_id: int, eos_id: int,
    min_len: int = 0,
) -> torch.LongTensor:
    """The most likely next token at every step, for a whole batch at once.

    Returns a LongTensor (B, T) with T <= ``max_len``, without <bos>. A row that produced
    <eos> is filled with ``eos_id`` after it (as ``generate`` does); decoding stops once every
    row has ended. ``tokens_until_eos`` turns the rows into lists. ``min_len`` forbids <eos>
    before that many tokens (a floor on the output length, e.g. for summaries that come out
    too short).
    """
    _check_decode_args(src, max_len, bos_id, eos_id, min_len)
    with _inference(model):
        state = model.encode(src, src_lengths)
        prev = torch.full((src.shape[0],), bos_id, dtype=torch.long, device=src.device)  # (B,)
        finished = torch.zeros_like(prev, dtype=torch.bool)  # (B,)
        outputs = []
        for t in range(max_len):
            logits, state = model.decode_step(prev, state)  # (B, V)
            if t < min_len:
                logits = logits.index_fill(-1, torch.tensor([eos_id], device=logits.device), float("-inf"))
            prev = sample_next(logits, greedy=True).masked_fill(finished, eos_id)  # (B,)
            outputs.append(prev)
            finished |= prev == eos_id
            if bool(finished.all()):
                break
    return torch.stack(outputs, dim=1)  # (B, T)


def tokens_until_eos(tokens, eos_id: int) -> list[list[int]]:
    """Rows of ``tokens`` (a LongTensor (B, T) or lists of ids) cut before their first <eos>."""
    rows = tokens.tolist() if torch.is_tensor(tokens) else [list(row) for row in tokens]
    return [row[: row.index(eos_id)] if eos_id in row else row for row in rows]


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """((5 + length) / 6) ** alpha (Wu et al. 2016, GNMT). alpha = 0 gives 1 (no penalty);
    larger alpha favours longer hypotheses."""
    return ((5 + length) / 6) ** alpha


def beam_search(
    model,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    beam_size: int,
    max_len: int,
    bos_id: int,
    eos_id: int,
    length_penalty: float = 0.0,
    min_len: int = 0,
) -> list[list[Hypothesis]]:
    """Beam search for every sentence of the batch; the best hypotheses of each, best first.

    A hypothesis of ``n`` tokens scores ``log_prob / gnmt_length_penalty(n, length_penalty)``.
    Each step extends the ``beam_size`` live beams of a sentence by every token, ranks the
    candidates by log-probability and walks down the ranking: an <eos> candidate among the top
    ``beam_size`` is finished and kept aside, the first ``beam_size`` others become the new
    live beams. Beams still live at ``max_len`` are finished there, without <eos>. A sentence
    is done once its best finished score beats the best score any live beam could still reach
    (log-probabilities only fall; the penalty grows at most to its value at ``max_len``).
    ``beam_size=1`` gives the greedy output. At most ``beam_size`` hypotheses per sentence.
    ``min_len`` forbids <eos> before that many tokens, as in ``greedy_decode``.
    """
    _check_decode_args(src, max_len, bos_id, eos_id, min_len)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
    with _inference(model):
        return _beam_search(model, src, src_lengths, beam_size, max_len, bos_id, eos_id,
                            length_penalty, min_len)


def _beam_search(model, src, src_lengths, K, max_len, bos_id, eos_id, alpha, min_len):
    B, device = src.shape[0], src.device
    state = model.encode(src, src_lengths).select(torch.arange(B, device=device).repeat_interleave(K))
    beam_logp = torch.full((B, K), float("-inf"), device=device)  # (B, K)
    beam_logp[:, 0] = 0.0  # one live beam to start with; the others are empty
    history = torch.empty(B, K, 0, dtype=torch.long, device=device)  # (B, K, t)
    prev = torch.full((B * K,), bos_id, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    for t in range(max_len):
        logits, state = model.decode_step(prev, state)  # (B*K, V)
        logp = logits.float().log_softmax(dim=-1).view(B, K, -1)  # (B, K, V)
        if t < min_len:
            logp[:, :, eos_id] = float("-inf")  # too short to end here
        V = logp.shape[-1]
        candidates = (beam_logp[:, :, None] + logp).view(B, K * V)  # (B, K*V)
        top_logp, top_index = candidates.topk(min(2 * K, K * V), dim=1)  # (B, 2K) ranked
        top_beam, top_token = top_index // V, top_index % V
        is_eos = top_token == eos_id
        ranks = torch.arange(top_logp.shape[1], device=device)
        penalty = gnmt_length_penalty(t + 1, alpha)
        for b, r in ((is_eos & (ranks < K) & top_logp.isfinite()).nonzero().tolist()):
            if not done[b]:
                tokens = history[b, top_beam[b, r]].tolist() + [eos_id]
                logp_value = float(top_logp[b, r])
                finished[b].append(Hypothesis(tokens, logp_value / penalty, logp_value))
        live_logp, live_rank = top_logp.masked_fill(is_eos, float("-inf")).topk(K, dim=1)  # (B, K)
        live_beam = top_beam.gather(1, live_rank)  # (B, K)
        live_token = top_token.gather(1, live_rank)  # (B, K)
        history = torch.cat([history.gather(1, live_beam[:, :, None].expand_as(history)),
                             live_token[:, :, None]], dim=2)  # (B, K, t + 1)
        beam_logp = live_logp
        if t == max_len - 1:
            _finish_live(finished, done, history, beam_logp, penalty)
            break
        max_penalty = max(gnmt_length_penalty(t + 2, alpha), gnmt_length_penalty(max_len, alpha))
        best_live = (beam_logp.max(dim=1).values / max_penalty).tolist()  # best reachable score
        for b in range(B):
            if finished[b] and max(h.score for h in finished[b]) >= best_live[b]:
                done[b] = True
        if all(done):
            break
        rows = (torch.arange(B, device=device)[:, None] * K + live_beam).view(-1)  # (B*K,)
        state = state.select(rows)
        prev = live_token.view(-1)
    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:K] for hyps in finished]


def _finish_live(finished, done, history, beam_logp, penalty) -> None:
    """At ``max_len``: the live beams of unfinished sentences become hypotheses as they are."""
    for b, beam in beam_logp.isfinite().nonzero().tolist():
        if not done[b]:
            logp_value = float(beam_logp[b, beam])
            finished[b].append(Hypothesis(history[b, beam].tolist(), logp_value / penalty, logp_value))
