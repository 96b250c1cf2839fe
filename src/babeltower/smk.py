"""Glue for the thin rule scripts in workflow/scripts: logging into the rule's log file."""

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
