"""Objective metrics of generated sets."""
