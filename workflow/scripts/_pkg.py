"""Make the `babeltower` package (in <repo>/src) importable in rule jobs, in any env.

Snakemake puts this folder on sys.path of every `script:` job, so `import _pkg` works there.
<repo>/src goes to the front even when it is already on sys.path: Snakemake appends the main
process's sys.path (which holds it, from the Snakefile) to a job's, behind site-packages, where
an installed babeltower (another checkout's editable install, an older wheel) would win.
"""
import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[2] / "src")
if sys.path[:1] != [_SRC]:
    while _SRC in sys.path:
        sys.path.remove(_SRC)
    sys.path.insert(0, _SRC)
