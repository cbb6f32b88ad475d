"""Checkpoints: ours, and importing the reference code's."""
