"""onnxruntime sessions for the CPU models, set up the same way for every stage."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def cpu_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle threads sleep instead of spinning: the cores are shared with other stages.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
