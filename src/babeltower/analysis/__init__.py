"""Analyses of the study's tables: stages, mixtures, statistics."""
