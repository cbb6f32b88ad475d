"""Evaluation without people: recognizers, automatic evaluation, augmented recognition, objective metrics."""
