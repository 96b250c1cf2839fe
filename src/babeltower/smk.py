"""Glue for the thin rule scripts in workflow/scripts (logging into the rule's log file) and for
the Snakefile (SideOutputNotice)."""

from __future__ import annotations

import logging
import os
import sys


def setup_rule_logging(smk) -> None:
    """Send stdout, stderr (progress bars included) and `logging` to the rule's `log:` file."""
    if smk.log:
        fh = open(smk.log[0], "w", buffering=1, encoding="utf-8")
        sys.stdout = fh
        sys.stderr = fh
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Rust tokenizers and BLAS pools follow the rule's `threads:`.
    threads = str(getattr(smk, "threads", 1) or 1)
    os.environ.setdefault("RAYON_NUM_THREADS", threads)
    os.environ.setdefault("OMP_NUM_THREADS", threads)


class SideOutputNotice(logging.Filter):
    """Drops Snakemake's warning that outputs of `rules` "were not present when the DAG was
    created". Rules probed_checkpoint and evaluated_checkpoint have no action: they declare
    the per-checkpoint files that their batch job (probe_batch, evaluate_batch) writes, so each
    of their outputs is by design absent when the DAG is built and present when the rule's
    job runs; Snakemake would warn once per checkpoint. Any other rule's warning passes."""

    def __init__(self, rules: list[str]):
        super().__init__()
        self.heads = tuple(f"output files of rule {rule} were not present" for rule in rules)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(head in message for head in self.heads)
