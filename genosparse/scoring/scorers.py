"""Scoring strategies: what number a model gives a batch of token windows.

Kept apart from the loop that feeds windows (as Selene separates predict handlers from
inference) so the same strategies serve FASTA scoring, variant scoring and the CLI.
"""

from __future__ import annotations

import torch

from genosparse.models.backbone import GenomicModel
from genosparse.models.inference import classification_logits, flip_positions, strand_average
from genosparse.sequence.vocab import MASK, NUM_BASES


def mlm_log_likelihood(model: GenomicModel, tokens: torch.Tensor, num_passes: int = 8) -> torch.Tensor:
    """Per-position masked log-likelihood of the reference bases (pseudo-log-likelihood).

    Positions are split into ``num_passes`` interleaved sets (``i % num_passes``); in each pass
    one set is replaced by ``[MASK]`` and the model's log-probability of the true base is read
    there, so every base is predicted exactly once from context with ~1/num_passes masked,
    matching the masking rate seen in training. (Full pseudo-log-likelihood, Salazar et al.
    2020, masks one position per pass and costs L passes.)

    Args:
        tokens: ``(B, L)`` int64.
    Returns:
        ``(B, L)`` float32 natural-log likelihoods; NaN where the token is not a base (N, PAD).
    """
    is_base = tokens < NUM_BASES
    ll = torch.full(tokens.shape, float("nan"), device=tokens.device)
    phase = torch.arange(tokens.shape[1], device=tokens.device) % num_passes
    present = torch.bincount(phase[is_base.any(0)], minlength=num_passes).tolist()  # one host synchronisation
    for p in range(num_passes):
        if not present[p]:
            continue
        selected = is_base & (phase == p)[None, :]
        logp = torch.log_softmax(model(torch.where(selected, MASK, tokens)).float(), dim=-1)
        true = logp.gather(-1, tokens.clamp_max(NUM_BASES - 1).unsqueeze(-1)).squeeze(-1)
        ll = torch.where(selected, true, ll)
    return ll


def mean_log_likelihood(model: GenomicModel, tokens: torch.Tensor, rc_average: bool = True,
                        num_passes: int = 8) -> torch.Tensor:
    """Mean masked log-likelihood per base of each row, ``(B,)`` float32 (NaN if no base).

    With ``rc_average`` the mean of the forward and reverse-complement strands' means.
    """
    return strand_average(lambda t: mlm_log_likelihood(model, t, num_passes).nanmean(dim=-1), tokens, rc_average)


def position_log_likelihood(model: GenomicModel, tokens: torch.Tensor, rc_average: bool = True) -> torch.Tensor:
    """Per-position masked log-likelihood ``(B, L)`` float32 of tokens ``(B, L)`` int64 (NaN at ``N``).

    With ``rc_average`` each base's value is the mean of its forward-strand value and the value of
    its complement in the reverse-complemented window (rows without padding).
    """
    return strand_average(lambda t: mlm_log_likelihood(model, t), tokens, rc_average, back=flip_positions)


def classification_probability(model: GenomicModel, tokens: torch.Tensor, rc_average: bool = True) -> torch.Tensor:
    """Sigmoid of the classification logits, ``(B,)`` float32 for one output (``(B, K)`` for K)."""
    prob = torch.sigmoid(classification_logits(model, tokens, rc_average).float())
    return prob.squeeze(-1) if prob.shape[-1] == 1 else prob


def score_name(model: GenomicModel) -> str:
    """Column name of the score a model produces."""
    return "mean_log_likelihood" if model.config.head == "mlm" else "probability"


def score_batch(model: GenomicModel, tokens: torch.Tensor, rc_average: bool = True) -> torch.Tensor:
    """The model's score of each row of ``tokens`` ``(B, L)``: mean MLM log-likelihood or probability."""
    if model.config.head == "mlm":
        return mean_log_likelihood(model, tokens, rc_average)
    return classification_probability(model, tokens, rc_average)
