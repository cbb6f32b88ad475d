"""FAMGAN: GANimation's AU-conditioned generator with the facial prior."""
