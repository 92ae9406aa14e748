"""Where a training ran: the versions, processor and threads that decide its exact numbers.

The same recipe and seed give bit-identical weights on one machine, straight or killed and
resumed, but not across machines: CPU kernels (bf16 above all) and library versions change
the rounding. ``rescore-train`` logs one ``environment`` record per run in ``log.jsonl`` (a
resumed run has one per segment; under torchrun the main process writes it, with the world
size), ``train-summary.json`` lists them, and
``rescore-model info`` and the report's model lines say them, so two runs that differ
can be told apart."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rescore
from rescore.scoring import uses_bf16

# what makes two environments the same one (the step a segment started at does not)
KEYS = ("rescore", "python", "torch", "numpy", "device", "processor", "cpu_capability",
        "threads", "world_size", "precision", "platform")


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's word elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_capability() -> str:
    """The vector instructions torch's CPU kernels use here (AVX2, AVX512, ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # an old torch
        return "unknown"


def environment(device: torch.device, precision: str, world_size: int = 1) -> dict[str, Any]:
    """The record of this process: versions, device, processor, threads and the precision
    the forward passes ran in (``auto`` resolved as rescore.scoring.autocast does)."""
    name = "cpu"
    if device.type == "cuda":
        name = f"cuda: {torch.cuda.get_device_name(device)}"
    elif device.type != "cpu":
        name = device.type
    return {"rescore": rescore.__version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "device": name,
            "processor": processor_name(), "cpu_capability": cpu_capability(),
            "threads": torch.get_num_threads(), "world_size": world_size,
            "precision": "bf16" if uses_bf16(device, precision) else "fp32",
            "platform": sys.platform}


def segments(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct environments of a log's ``environment`` records, in order, each with
    the updates its segments started from (``from_steps``)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        if record.get("type") == "environment":
            key = tuple(repr(record.get(k)) for k in KEYS)
            seen = out.setdefault(key, {**{k: record.get(k) for k in KEYS}, "from_steps": []})
            seen["from_steps"].append(record.get("step"))
    return list(out.values())


def describe(env: dict[str, Any]) -> str:
    """One environment in words: "torch 2.13.0+cpu, cpu AMD EPYC (AVX512), 1 thread, bf16"."""
    threads = env.get("threads")
    where = env.get("device", "?")
    if where == "cpu":
        where = f"cpu {env.get('processor', '?')} ({env.get('cpu_capability', '?')})"
    text = (f"torch {env.get('torch', '?')}, {where}, {threads} "
            f"thread{'' if threads == 1 else 's'}, {env.get('precision', '?')}")
    if isinstance(env.get("world_size"), int) and env["world_size"] > 1:
        text += f", {env['world_size']} processes"
    return text
