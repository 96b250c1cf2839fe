"""Make the `babeltower` package (in <repo>/src) importable in rule jobs, in any env.

Snakemake puts this folder on sys.path of every `script:` job, so `import _pkg` works there.
"""
import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[2] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
