"""Per-checkpoint probes: held-out loss, canonical-solution likelihood, working language
(logit lens) and LAPE language / transfer neurons. See runner.probe_checkpoint."""
