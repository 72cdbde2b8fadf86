"""Words as vectors: counts (TF-IDF, co-occurrence, PPMI, truncated SVD) and skip-gram.

Counting functions return torch tensors. A word-word co-occurrence matrix is always a sparse
COO tensor: a dense V x V float32 matrix for V = 20,000 would take 1.6 GB, while the nonzero
counts of a 200k-token corpus fit in a few MB. ``ppmi`` and ``truncated_svd`` accept dense or
sparse input (``ppmi`` keeps the layout it was given); call ``.to_dense()`` to print a small one.

Shapes: N documents, V vocabulary, D embedding dim, B batch, K negatives per pair.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _as_id_arrays(sequences: Iterable[Sequence[int]], vocab_size: int | None) -> list[np.ndarray]:
    """Sequences of token ids as int64 arrays, checked against ``vocab_size`` (if given)."""
    if vocab_size is not None and vocab_size < 1:
        raise ValueError(
            f"vocab_size must be >= 1 (an empty vocabulary has no vectors), got {vocab_size}"
        )
    arrays = []
    for sequence in sequences:
        if isinstance(sequence, (int, np.integer, str)):
            raise TypeError(
                "pass a list of id sequences (one per sentence), e.g. [vocab.encode(tokens)]; "
                f"got an element of type {type(sequence).__name__}"
            )
        ids = np.asarray(sequence, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or (vocab_size is not None and ids.max() >= vocab_size)):
            raise ValueError(
                f"token ids must lie in [0, {vocab_size}); encode tokens with the same Vocab"
            )
        arrays.append(ids)
    return arrays


def _check_window(window: int) -> None:
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an integer >= 1 (words on each side), got {window!r}")


def _offset_pairs(arrays: list[np.ndarray], window: int):
    """Yield (distance, left ids, right ids): every ordered pair d = 1..window apart, same sentence."""
    if not arrays:
        return
    flat = np.concatenate(arrays)  # all tokens, sentence after sentence
    sentence = np.repeat(np.arange(len(arrays)), [len(a) for a in arrays])
    for distance in range(1, window + 1):
        same = sentence[:-distance] == sentence[distance:]
        yield distance, flat[:-distance][same], flat[distance:][same]


# ---------------------------------------------------------------- TF-IDF


def tfidf_fit(
    docs: Sequence[Sequence[str]], vocab: Sequence[str] | None = None, min_df: int = 1
) -> tuple[list[str], torch.Tensor]:
    """The columns and idf weights learned from ``docs`` (e.g. a training split): ``(terms, idf
    (V,))``, ``idf = ln((1 + N) / (1 + df_t)) + 1`` over its N documents (see ``tfidf_matrix``)."""
    if isinstance(docs, str) or any(isinstance(doc, str) for doc in docs):
        raise TypeError("docs must be token lists, e.g. [word_tokenize(text) for text in texts]")
    if min_df < 1:
        raise ValueError(f"min_df must be >= 1, got {min_df}")
    doc_freq: Counter[str] = Counter()
    for doc in docs:
        doc_freq.update(set(doc))
    terms = sorted(t for t, df in doc_freq.items() if df >= min_df) if vocab is None else list(vocab)
    if not terms:
        raise ValueError("empty vocabulary: no term reaches min_df (lower it) or vocab is empty")
    df = torch.tensor([doc_freq[t] for t in terms], dtype=torch.float64)
    return terms, (torch.log((1 + len(docs)) / (1 + df)) + 1).float()  # (V,)


def tfidf_transform(docs: Sequence[Sequence[str]], terms: Sequence[str], idf: torch.Tensor) -> torch.Tensor:
    """Sparse (N, V) TF-IDF rows of unit L2 norm for ``docs``, with the ``terms`` and ``idf`` of
    ``tfidf_fit`` (terms outside them are ignored; an all-zero row stays zero)."""
    column = {t: j for j, t in enumerate(terms)}
    rows, cols, counts = [], [], []
    for i, doc in enumerate(docs):
        for term, count in Counter(doc).items():
            if term in column:
                rows.append(i)
                cols.append(column[term])
                counts.append(count)
    rows_t, cols_t = torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)
    values = torch.tensor(counts, dtype=torch.float32) * idf[cols_t]  # tf * idf, (nnz,)
    norms = torch.zeros(len(docs)).index_add_(0, rows_t, values**2).sqrt().clamp_min(1e-12)  # (N,)
    return torch.sparse_coo_tensor(torch.stack([rows_t, cols_t]), values / norms[rows_t],
                                   (len(docs), len(terms)), check_invariants=False).coalesce()


def tfidf_matrix(
    docs: Sequence[Sequence[str]],
    vocab: Sequence[str] | None = None,
    min_df: int = 1,
) -> tuple[torch.Tensor, list[str]]:
    """TF-IDF document vectors, the variant of scikit-learn's ``TfidfVectorizer`` defaults.

    For term t in document d of N documents: ``tf = count of t in d`` (raw count),
    ``idf = ln((1 + N) / (1 + df_t)) + 1`` (smoothed: as if one extra document held every term;
    the +1 keeps terms that occur everywhere), then each row is scaled to unit L2 norm (an
    all-zero row stays zero). Without ``vocab`` the columns are the terms with document
    frequency >= ``min_df``, sorted alphabetically; with ``vocab`` (a list of terms, or a
    ``Vocab``'s ``itos``) the columns follow it, other terms are ignored and ``min_df`` is unused.

    Returns ``(matrix (N, V) float32, terms)``. The matrix is dense (N x V x 4 bytes): raise
    ``min_df`` or pass a smaller ``vocab`` for large collections, or use ``tfidf_fit`` and
    ``tfidf_transform`` (sparse, and fitted on one split, applied to others).
    """
    terms, idf = tfidf_fit(docs, vocab, min_df)
    return tfidf_transform(docs, terms, idf).to_dense(), terms


# ---------------------------------------------------------------- nearest neighbours


def nearest(
    query: torch.Tensor | np.ndarray,
    matrix: torch.Tensor | np.ndarray,
    k: int = 10,
    exclude: Iterable[int] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k rows of ``matrix`` (N, D) most cosine-similar to ``query`` (D,) or (Q, D).

    Works for word vectors and sentence/document vectors alike; numpy arrays are converted.
    ``exclude`` lists row indices never returned (e.g. the query word itself). Rows or queries
    of zero length have similarity 0. Returns ``(indices, similarities)``, best first, each of
    shape (k,) for one query or (Q, k) for a batch.
    """
    query = torch.as_tensor(query)
    matrix = torch.as_tensor(matrix)
    if matrix.dim() != 2:
        raise ValueError(
            f"matrix must be (N, D), one vector per row; got shape {tuple(matrix.shape)}"
        )
    if query.dim() not in (1, 2) or query.shape[-1] != matrix.shape[1]:
        raise ValueError(
            f"query must be (D,) or (Q, D) with D = {matrix.shape[1]}; got shape {tuple(query.shape)}"
        )
    matrix = matrix.float()
    similarities = (
        F.normalize(query.float().to(matrix.device), dim=-1) @ F.normalize(matrix, dim=1).T
    )
    excluded = sorted(set(int(i) for i in exclude))
    if any(not 0 <= i < matrix.shape[0] for i in excluded):
        raise ValueError(f"exclude holds row indices outside [0, {matrix.shape[0]}): {excluded}")
    similarities[..., excluded] = -math.inf
    available = matrix.shape[0] - len(excluded)
    if not 1 <= k <= available:
        raise ValueError(f"k must be between 1 and {available} (rows not excluded), got {k}")
    values, indices = similarities.topk(k, dim=-1)
    return indices, values


# ---------------------------------------------------------------- co-occurrence, PPMI, SVD


def cooccurrence_matrix(
    sequences: Iterable[Sequence[int]],
    vocab_size: int,
    window: int = 2,
    weighting: str = "uniform",
    ignore_ids: Iterable[int] = (),
) -> torch.Tensor:
    """Symmetric word-context counts within ``window`` words, as a sparse (V, V) float32 tensor.

    ``sequences`` are sentences of token ids (``vocab.encode``); windows never cross sentence
    boundaries. Each ordered pair of tokens d = 1..window apart adds to both ``C[a, b]`` and
    ``C[b, a]`` a weight 1 (``"uniform"``) or 1/d (``"harmonic"``, as GloVe). Pairs touching an
    id in ``ignore_ids`` (e.g. pad, unk) are dropped, but distances still count those tokens.
    Counts are summed with ``np.unique`` over integer keys ``a * V + b``, never a Python loop
    over pairs. The result is coalesced; ``.to_dense()`` it only for a small vocabulary.
    """
    _check_window(window)
    if weighting not in ("uniform", "harmonic"):
        raise ValueError(f"weighting must be 'uniform' or 'harmonic', got {weighting!r}")
    arrays = _as_id_arrays(sequences, vocab_size)
    ignored = np.asarray(sorted(set(int(i) for i in ignore_ids)), dtype=np.int64)
    keys, weights = [], []
    for distance, left, right in _offset_pairs(arrays, window):
        keep = ~(np.isin(left, ignored) | np.isin(right, ignored))
        left, right = left[keep], right[keep]
        weight = 1.0 if weighting == "uniform" else 1.0 / distance
        keys += [left * vocab_size + right, right * vocab_size + left]
        weights.append(np.full(2 * len(left), weight))
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    all_weights = np.concatenate(weights) if weights else np.zeros(0)
    unique, inverse = np.unique(all_keys, return_inverse=True)
    values = np.bincount(inverse.reshape(-1), weights=all_weights, minlength=len(unique))
    indices = torch.from_numpy(np.stack([unique // vocab_size, unique % vocab_size]))
    return torch.sparse_coo_tensor(
        indices,
        torch.from_numpy(values).float(),
        (vocab_size, vocab_size),
        is_coalesced=True,
        check_invariants=False,
    )


def ppmi(matrix: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Positive pointwise mutual information of a (V, C) count matrix, dense or sparse.

    ``PPMI[w, c] = max(0, log(P(w, c) / (P(w) P_alpha(c))))`` with probabilities from the counts;
    ``P_alpha(c) = count(c)**alpha / sum(count**alpha)`` (alpha = 0.75 is Levy et al.'s context
    smoothing; 1 is plain PMI). Zero counts give 0. Returns the same layout as the input.
    """
    if matrix.dim() != 2:
        raise ValueError(f"ppmi needs a 2-D count matrix (V, C), got shape {tuple(matrix.shape)}")
    if matrix.is_sparse:
        matrix = matrix.coalesce()
        rows, cols = matrix.indices()
        counts = matrix.values().double()
    else:
        rows, cols = torch.nonzero(matrix, as_tuple=True)
        counts = matrix[rows, cols].double()
    if (counts < 0).any():
        raise ValueError("ppmi needs non-negative counts")
    total = counts.sum()
    row_sums = counts.new_zeros(matrix.shape[0]).index_add_(0, rows, counts)
    col_sums = counts.new_zeros(matrix.shape[1]).index_add_(0, cols, counts) ** alpha
    # log P(w,c) - log P(w) - log P_alpha(c)
    pmi = (
        (counts / total).log()
        - (row_sums[rows] / total).log()
        - (col_sums[cols] / col_sums.sum()).log()
    )
    values = pmi.clamp_min(0).to(matrix.dtype if matrix.is_floating_point() else torch.float32)
    if matrix.is_sparse:
        return torch.sparse_coo_tensor(
            matrix.indices(), values, matrix.shape, is_coalesced=True, check_invariants=False
        )
    result = matrix.new_zeros(matrix.shape, dtype=values.dtype)
    result[rows, cols] = values
    return result


def truncated_svd(
    matrix: torch.Tensor, dim: int, exact: bool | None = None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top ``dim`` singular triplets: ``matrix ~= U @ diag(S) @ V.T``.

    Returns ``(U (M, dim), S (dim,), V (N, dim))``, S descending; word vectors are usually
    ``U * S`` or ``U * S.sqrt()``. ``exact=True`` uses ``torch.linalg.svd`` (dense);
    ``exact=False`` uses the randomised ``torch.svd_lowrank`` (works on sparse input, seeded by
    ``seed`` without touching the global RNG). By default exact for dense inputs with
    min(M, N) <= 2048. Signs are fixed so each column of U has its largest |entry| positive.
    """
    if matrix.dim() != 2:
        raise ValueError(f"truncated_svd needs a 2-D matrix, got shape {tuple(matrix.shape)}")
    if not 1 <= dim <= min(matrix.shape):
        raise ValueError(f"dim must be between 1 and {min(matrix.shape)}, got {dim}")
    if exact is None:
        exact = not matrix.is_sparse and min(matrix.shape) <= 2048
    if exact:
        dense = matrix.to_dense() if matrix.is_sparse else matrix
        U, S, Vh = torch.linalg.svd(dense.float(), full_matrices=False)
        U, S, V = U[:, :dim], S[:dim], Vh[:dim].T
    else:
        devices = [matrix.device] if matrix.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            q = min(dim + 10, *matrix.shape)
            U, S, V = torch.svd_lowrank(matrix.float(), q=q, niter=6)
        U, S, V = U[:, :dim], S[:dim], V[:, :dim]
    rows = U.abs().argmax(dim=0)
    signs = torch.sign(U[rows, torch.arange(dim, device=U.device)])
    signs[signs == 0] = 1
    return U * signs, S, V * signs


# ---------------------------------------------------------------- skip-gram with negative sampling


def skipgram_pairs(
    sequences: Iterable[Sequence[int]],
    window: int,
    subsample_t: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (center, context) id pairs at most ``window`` apart within each sentence.

    With ``subsample_t`` (word2vec uses 1e-5 on billions of words, ~1e-3 suits small corpora),
    each token is first dropped with probability ``max(0, 1 - sqrt(t / f(w)))``, f(w) its
    relative frequency in these sequences, so very frequent words yield fewer pairs (and
    windows reach further). The window is fixed, not word2vec's random shrinking.
    Returns ``(center (N,), context (N,))`` LongTensors.
    """
    _check_window(window)
    arrays = _as_id_arrays(sequences, None)
    vocab_size = 1 + max((int(a.max()) for a in arrays if a.size), default=0)
    if subsample_t is not None:
        if subsample_t <= 0:
            raise ValueError(
                f"subsample_t must be > 0 (or None to keep every token), got {subsample_t}"
            )
        counts = (
            np.bincount(np.concatenate(arrays), minlength=vocab_size) if arrays else np.zeros(1)
        )
        freq = torch.from_numpy(counts / max(counts.sum(), 1))
        keep_prob = torch.sqrt(subsample_t / freq.clamp_min(1e-30)).clamp(max=1.0)
        flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        kept = (
            torch.rand(len(flat), generator=generator, dtype=torch.float64) < keep_prob[flat]
        ).numpy()
        boundaries = np.cumsum([len(a) for a in arrays])[:-1]
        arrays = [a[keep] for a, keep in zip(arrays, np.split(kept, boundaries), strict=True)]
    centers, contexts = [], []
    for _, left, right in _offset_pairs(arrays, window):
        centers += [left, right]
        contexts += [right, left]
    if not centers:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.from_numpy(np.concatenate(centers)), torch.from_numpy(np.concatenate(contexts))


class NegativeSampler:
    """Draws negative words from the unigram distribution raised to ``power`` (word2vec: 0.75).

    ``probs[w] = counts[w]**power / sum(counts**power)``: the power flattens the distribution so
    rare words are drawn more often than their frequency. Words with count 0 are never drawn.
    """

    def __init__(self, counts: Sequence[float] | torch.Tensor, power: float = 0.75):
        counts = torch.as_tensor(counts, dtype=torch.float64)
        if counts.dim() != 1 or counts.numel() == 0:
            raise ValueError("counts must be a non-empty 1-D sequence: one count per vocabulary id")
        if (counts < 0).any() or counts.sum() <= 0:
            raise ValueError("counts must be non-negative with at least one positive count")
        weights = counts.pow(power) * (counts > 0)
        self.probs: torch.Tensor = weights / weights.sum()  # (V,) on the CPU

    def sample(
        self, batch_size: int, num_negatives: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Negative ids of shape (batch_size, num_negatives), on the CPU (``.to(device)`` them)."""
        if batch_size < 0 or num_negatives < 1:
            raise ValueError("need batch_size >= 0 and num_negatives >= 1")
        draws = torch.multinomial(
            self.probs, batch_size * num_negatives, replacement=True, generator=generator
        )
        return draws.view(batch_size, num_negatives)


class SkipGram(nn.Module):
    """Skip-gram with negative sampling (SGNS): input vectors v_w and output vectors u_c.

    As in word2vec, input vectors start uniform in +-0.5/D and output vectors at zero.
    After training, ``word_vectors()`` (the input embeddings) are the word vectors.
    """

    def __init__(self, vocab_size: int, embed_dim: int):
        super().__init__()
        if vocab_size < 1 or embed_dim < 1:
            raise ValueError(
                f"need vocab_size >= 1 and embed_dim >= 1, got {vocab_size}, {embed_dim}"
            )
        self.in_embed = nn.Embedding(vocab_size, embed_dim)  # v_w: (V, D)
        self.out_embed = nn.Embedding(vocab_size, embed_dim)  # u_c: (V, D)
        nn.init.uniform_(self.in_embed.weight, -0.5 / embed_dim, 0.5 / embed_dim)
        nn.init.zeros_(self.out_embed.weight)

    def loss(
        self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Mean over the batch of ``-log s(u_o . v_c) - sum_k log s(-u_k . v_c)``, s = sigmoid.

        center (B,), context (B,), negatives (B, K): LongTensors of ids.
        """
        if center.dim() != 1 or context.shape != center.shape:
            raise ValueError("center and context must be 1-D id tensors of the same length (B,)")
        if negatives.dim() != 2 or negatives.shape[0] != center.shape[0]:
            raise ValueError(
                f"negatives must be (B, K) with B = {center.shape[0]}, got {tuple(negatives.shape)}"
            )
        v = self.in_embed(center)  # (B, D)
        positive = (self.out_embed(context) * v).sum(-1)  # (B,)
        negative = torch.bmm(self.out_embed(negatives), v.unsqueeze(-1)).squeeze(-1)  # (B, K)
        return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).mean()

    def forward(
        self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Same as ``loss``: ``model(center, context, negatives)`` is the SGNS loss."""
        return self.loss(center, context, negatives)

    def word_vectors(self) -> torch.Tensor:
        """The input embeddings (V, D), detached: one vector per word id."""
        return self.in_embed.weight.detach()
