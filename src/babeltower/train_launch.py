"""Starting a training run: in this process, or as torchrun workers (srun on several nodes).

The rule `train` calls `launch_training`, which completes the run's config with the rule's
files and threads and calls `launch`. One process without `training.torchrun` trains here
(train.train); otherwise `torchrun_command` starts workers that run
`python -m babeltower.train run_config.json`, and this process waits for them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .atomic import write_json
from .train import train
from .train_process import TrainingError

# Port of the c10d rendezvous on a multi-node run's first node.
RENDEZVOUS_PORT = 29400


def launch_training(smk, run_config: dict, languages: list[str], init_from: str = "") -> int:
    """Rule train: complete a run config with the rule's files and threads, then train.

    `smk` is the rule's `snakemake` object (output `metrics`, inputs `tokenizer` and
    `token_indexes` in the order of `languages`, `threads`). Returns the exit status (143
    after SIGTERM: state saved, the job resumes on rerun)."""
    run_config = dict(run_config)
    run_config.update(
        out_dir=str(Path(smk.output.metrics).parent),
        tokenizer=smk.input.tokenizer,
        token_indexes=dict(zip(languages, smk.input.token_indexes)),
        threads=smk.threads,
        world_size=run_config["processes"] * run_config["nodes"],
    )
    # The initial run's checkpoint, else the existing model of the run's `from:` block.
    init_from = init_from or (run_config.get("from") or {}).get("folder", "")
    if init_from:
        run_config["init_from"] = init_from
    return launch(run_config)


def launch(run_config: dict) -> int:
    """Write the complete run config next to the run and train: in this process, or under
    torchrun.

    With more than one process, or with `training.torchrun: true`, the workers are started by
    `torchrun_command`; a SIGTERM sent to this process is forwarded so that every worker saves
    state and exits.
    """
    out = Path(run_config["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "run_config.json"
    write_json(path, run_config)
    if run_config["processes"] * run_config["nodes"] == 1 and not run_config["torchrun"]:
        return train(run_config)
    proc = subprocess.Popen(torchrun_command(run_config, path))
    previous = signal.signal(signal.SIGTERM,
                             lambda signum, frame: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def torchrun_command(run_config: dict, config_path: Path, env=os.environ) -> list[str]:
    """The command that starts a distributed run's workers.

    One node: torchrun `--standalone`. Several nodes: the run must be a Slurm job; srun starts
    one torchrun per node of the job's allocation and they meet at the first node (c10d
    rendezvous keyed by the job id, so a requeued job does not join a stale rendezvous)."""
    nodes = run_config["nodes"]
    per_node = run_config["processes"]
    worker = ["-m", "babeltower.train", str(config_path)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={per_node}"]
    if nodes == 1:
        return torchrun[:3] + ["--standalone"] + torchrun[3:] + worker
    job = env.get("SLURM_JOB_ID")
    if not job:
        raise TrainingError(f"run {run_config['run']!r}: training.nodes = {nodes} needs a Slurm "
                            "allocation of that many nodes (run with the SLURM profile); "
                            "outside Slurm use nodes: 1")
    hosts = slurm_job_hosts(job, env)
    if len(hosts) < nodes:
        raise TrainingError(f"run {run_config['run']!r}: training.nodes = {nodes}, but Slurm job "
                            f"{job} has {len(hosts)} node(s): {', '.join(hosts)}")
    return (["srun", f"--jobid={job}", f"--nodes={nodes}", f"--ntasks={nodes}",
             "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
            + torchrun + [f"--nnodes={nodes}", "--rdzv-backend=c10d",
                          f"--rdzv-endpoint={hosts[0]}:{RENDEZVOUS_PORT}", f"--rdzv-id={job}"]
            + worker)


def slurm_job_hosts(job: str, env=os.environ) -> list[str]:
    """Host names of a Slurm job's nodes. Snakemake's job-step plugin strips SLURM_JOB_NODELIST
    from the job's environment, so the list is asked from the controller when it is missing."""
    nodelist = env.get("SLURM_JOB_NODELIST")
    if not nodelist:
        out = subprocess.run(["scontrol", "show", "job", "--oneliner", job], capture_output=True,
                             text=True, check=True).stdout
        fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
        nodelist = fields.get("NodeList", "")
    hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                           text=True, check=True).stdout.split()
    return hosts
