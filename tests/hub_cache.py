"""A Hugging Face hub cache laid out by hand, for offline tests of the real hub loading code.

`publish(cache, repo_id, folder, revision)` places `folder`'s files as one commit of `repo_id`
in `cache` the way huggingface_hub's downloads leave them (models--<org>--<name>/
snapshots/<commit>/, refs/<revision> holding the commit hash). With HF_HUB_CACHE=cache and
HF_HUB_OFFLINE=1, `from_pretrained(repo_id, revision=...)` resolves the id and the revision
through transformers and huggingface_hub, as it does online after a download. Both libraries
read those variables when they are imported, so a test that runs after others have imported
them sets the values they read (`use_hub_cache`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def publish(cache: Path, repo_id: str, folder: Path, revision: str = "main") -> str:
    """Add `folder` as a commit of `repo_id` under `revision` (a branch or tag name); returns
    the commit hash, which also resolves as a revision."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    digest = hashlib.sha1()
    for p in files:
        digest.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    commit = digest.hexdigest()
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for p in files:
        target = snapshot / p.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit


def use_hub_cache(monkeypatch, cache: Path) -> None:
    """Point huggingface_hub (and transformers through it) at `cache`, offline, for one test:
    the environment for processes it starts, the constants the imported libraries read."""
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
