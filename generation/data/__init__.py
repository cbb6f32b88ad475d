"""Datasets: readers, clip records, splits, prepared-clip cache."""
