import sys
from pathlib import Path

# Test helpers (micro workspace, Snakemake runner) live next to the tests.
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402

from micro import micro_config, write_config  # noqa: E402
from snakemake_helpers import snakemake  # noqa: E402


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory):
    """The whole workflow run locally on the micro config: (workdir, config, config file).
    Shared by the end-to-end tests and the Slurm test (which compares its results to these)."""
    ws = tmp_path_factory.mktemp("micro")
    cfg = micro_config(ws)
    configfile = write_config(ws / "config.yaml", cfg)
    snakemake(ws, configfile)
    return ws, cfg, configfile
