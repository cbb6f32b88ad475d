"""LivePortrait (Guo et al. 2024): the released networks, zero-shot."""
