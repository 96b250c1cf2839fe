import sys
from pathlib import Path

# Test helpers (micro workspace, Snakemake runner) live next to the tests.
sys.path.insert(0, str(Path(__file__).parent))
