"""rescore.environment: the record of where a training ran, grouped and said in words."""

from __future__ import annotations

import torch

from rescore import environment


def test_the_record_resolves_auto_precision_and_names_the_processor() -> None:
    env = environment.environment(torch.device("cpu"), "auto")
    assert env["precision"] == "fp32" and env["device"] == "cpu"
    assert env["torch"] == torch.__version__ and env["threads"] == torch.get_num_threads()
    assert env["processor"] and env["cpu_capability"]
    assert environment.environment(torch.device("cpu"), "bf16")["precision"] == "bf16"


def test_segments_group_equal_environments_in_order() -> None:
    a = {"type": "environment", "step": 0, "torch": "2.13.0", "threads": 1, "device": "cpu",
         "processor": "X", "cpu_capability": "AVX2", "precision": "fp32", "world_size": 1}
    b = {**a, "step": 10, "processor": "Y", "cpu_capability": "AVX512"}
    records = [a, {"type": "train", "step": 5}, b, {**a, "step": 20}]
    out = environment.segments(records)
    assert [(e["processor"], e["from_steps"]) for e in out] == [("X", [0, 20]), ("Y", [10])]
    assert environment.segments([{"type": "train", "step": 1}]) == []
    assert environment.describe(out[1]) == "torch 2.13.0, cpu Y (AVX512), 1 thread, fp32"
    gpu = {**a, "device": "cuda: NVIDIA H100", "threads": 4, "world_size": 2,
           "precision": "bf16"}
    assert environment.describe(gpu) == \
        "torch 2.13.0, cuda: NVIDIA H100, 4 threads, bf16, 2 processes"
