"""Analyses of the study's tables, one module per analysis rule (curves, stages, mixtures,
algorithm1, comparison, report) plus what they share (tables, segmentation, statistics, figures)."""
