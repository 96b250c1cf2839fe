"""Execution-based evaluation: generation, sandboxed program execution, pass@k."""
