"""What produced a run, written beside it: config.json (the resolved options) and env.json
(versions, device, the CPU's oneDNN instruction set, worker, git commit)."""
import os
import platform
import subprocess

import mxnet as mx
import numpy as np

from .. import native
from ..config import to_dict
from ..utils.cpu import isa_summary
from ..utils.files import atomic_write_json


def write_provenance(paths, cfg, contexts, kvstore, rank):
    """config.json and env.json of the run whose files are `paths` (`resume.run_paths`)."""
    atomic_write_json(paths["config"], to_dict(cfg))
    atomic_write_json(paths["env"], dict(environment(contexts), kvstore=cfg.kvstore,
                                         rank=rank,
                                         num_workers=kvstore.num_workers if kvstore is not None else 1,
                                         pid=os.getpid()))


def environment(contexts):
    """What produced a run: versions, device, the instruction set oneDNN computes with on the CPU and why
    (`isa_summary`), and the git commit of the working tree if there is one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return dict(mxnet=mx.__version__, numpy=np.__version__, python=platform.python_version(),
                ctx=",".join(str(c) for c in contexts), machine=platform.machine(), processor=platform.processor(),
                cpu_count=os.cpu_count(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                mxnet_omp_max_threads=os.environ.get("MXNET_OMP_MAX_THREADS"), git_commit=commit,
                fused_layer_norm=native.used_on(contexts), onednn_isa=isa_summary())
