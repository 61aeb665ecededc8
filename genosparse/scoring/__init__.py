"""Scoring sequences with a trained model and writing the scores."""

from genosparse.scoring.fasta import ScoreRow, score_fasta, score_sequences
from genosparse.scoring.scorers import classification_probability, mean_log_likelihood, score_batch
from genosparse.scoring.writers import atomic_output, write_scores

__all__ = ["ScoreRow", "atomic_output", "classification_probability", "mean_log_likelihood", "score_batch",
           "score_fasta", "score_sequences", "write_scores"]
