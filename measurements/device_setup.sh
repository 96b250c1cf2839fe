#!/usr/bin/env bash
# Prepare and install what measurements/device_acceptance.py needs on a lent device machine.
#
# The device machine (one H200; docs: the `device` tool) has CUDA PyTorch, transformers,
# tokenizers, pandas, pyarrow and friends in its python3 (3.12), but not the workflow's own
# dependencies, and nothing can be fetched there. So:
#
#   here:   measurements/device_setup.sh fetch      # wheels for CPython 3.12 + bubblewrap into .whl/
#   there:  source measurements/device_setup.sh install && python3 measurements/device_acceptance.py ...
#
# `.whl/` must be ignored by git (echo /.whl/ >> .git/info/exclude) and carried with the run
# (carry: [".whl"]). The list below is the closure of snakemake, datasets, zstandard,
# datasketch and jsonschema minus what the device image holds (its package list, as last read
# in the device tool's KINDS.md); the versions are those of requirements.txt and its resolution.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$HERE/.whl"

PACKAGES=(
  annotated-types==0.8.0 argparse-dataclass==2.0.0 conda-inject==1.3.2 configargparse==1.9.0
  datasets==5.2.0 datasketch==2.0.0 dill==0.4.1 docutils==0.22.4
  dpath==2.2.0 fastjsonschema==2.22.3 gitdb==4.0.12 gitpython==3.2.1 greenlet==3.5.6
  humanfriendly==10.0 immutables==0.21 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  jupyter-core==5.9.1 multiprocess==0.70.19 nbformat==5.11.1 platformdirs==4.14.9 pulp==3.3.2
  pydantic==2.14.4 pydantic-core==2.50.5 referencing==0.37.0 rpds-py==2026.9.1
  smart-open==7.7.1 smmap==5.0.3 snakemake==9.27.1 snakemake-interface-common==1.23.0
  snakemake-interface-executor-plugins==9.4.0 snakemake-interface-logger-plugins==2.1.0
  snakemake-interface-report-plugins==1.3.0 snakemake-interface-scheduler-plugins==2.0.2
  snakemake-interface-storage-plugins==4.4.1 sqlalchemy==2.0.58 sqlmodel==0.0.37
  tenacity==9.2.1 throttler==1.2.3 traitlets==5.16.1 typing-inspection==0.4.5 yte==1.9.4
  zstandard==0.25.0
)
# Published as source only: built here into a (pure-Python) wheel.
SOURCE_ONLY=(connection-pool==0.0.3)

fetch() {
  mkdir -p "$WHEELS/deb"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any -d "$WHEELS" "${PACKAGES[@]}"
  python3 -m pip wheel --quiet --no-deps -w "$WHEELS" "${SOURCE_ONLY[@]}"
  # The sandbox of the evaluation stage (isolation: auto falls back to limits only, recorded
  # per result, where bubblewrap cannot run).
  (cd "$WHEELS/deb" && apt-get download bubblewrap >/dev/null 2>&1) \
    || echo "bubblewrap .deb not fetched: evaluation there runs with limits only" >&2
  du -sh "$WHEELS"
}

install() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH="/tmp/site:$HERE/src${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="/tmp/site/bin:$PATH"
  for deb in "$WHEELS"/deb/*.deb; do
    [ -e "$deb" ] || continue
    dpkg -x "$deb" /tmp/debroot && export PATH="$PATH:/tmp/debroot/usr/bin"
  done
  python3 -c "import snakemake, datasets, zstandard, datasketch, jsonschema, torch; \
print('device setup ok: snakemake', snakemake.__version__, '| torch', torch.__version__, \
'| cuda', torch.cuda.is_available())"
}

case "${1:-}" in
  fetch) fetch ;;
  install) install ;;
  *) echo "usage: $0 fetch | install" >&2; return 2 2>/dev/null || exit 2 ;;
esac
