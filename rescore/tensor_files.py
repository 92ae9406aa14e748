"""Tensor files that cannot run code when read.

A model directory may come from anyone, so nothing here unpickles objects:

- weights are safetensors files (a JSON header and raw tensor bytes; no code, readable by other
  tools), written with a SHA-256 that the reader checks;
- training checkpoints (weights, optimizer, progress, RNG states) are ``torch.save`` files of
  tensors and plain values (dicts, lists, tuples, strings, numbers, None) only, read with
  ``torch.load(weights_only=True)``, whose unpickler refuses every other object;
- a checkpoint written before this module (numpy's RNG state pickled as a numpy array) is read
  with numpy's array reconstruction added to that allow-list and nothing else.

A file that holds anything else is refused with one line naming it (:class:`UnsafeFile`).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rescore.errors import RescoreError
from rescore.files import atomic_path, sha256_of


class UnsafeFile(RescoreError):
    """A file that is not plain tensors and values: reading it would run code."""


def _without_aliases(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, each storage once (safetensors refuses shared tensors; a
    tied weight is one parameter under two names, which loading restores through the model)."""
    seen: set[tuple[int, int, tuple[int, ...]]] = set()  # storage, offset, shape
    out = {}
    for name, tensor in state.items():
        key = (tensor.untyped_storage().data_ptr(), int(tensor.storage_offset()),
               tuple(tensor.shape))
        if tensor.numel() and key in seen:
            continue
        seen.add(key)
        out[name] = tensor.detach().to("cpu").contiguous()
    return out


def save_tensors(state: Mapping[str, torch.Tensor], path: Path,
                 metadata: dict[str, str] | None = None) -> str:
    """Write ``state`` as a safetensors file (temporary file beside it, then rename); returns
    the file's SHA-256."""
    with atomic_path(path) as tmp:
        save_file(_without_aliases(state), str(tmp), metadata=metadata)
        digest = sha256_of(tmp)
    return digest


def check_sha256(path: Path, sha256: str | None) -> None:
    """``path``'s SHA-256 is ``sha256`` (nothing checked for None)."""
    if sha256 is None:
        return
    digest = sha256_of(path)
    if digest != sha256:
        raise RescoreError(f"{path}: SHA-256 {digest[:16]}... differs from the "
                           f"{sha256[:16]}... recorded in config.json beside it: the file "
                           "is truncated, damaged or from another model")


MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U8": 1, "BOOL": 1}


def tensor_header(path: Path) -> dict[str, tuple[str, list[int]]]:
    """``name -> (dtype, shape)`` of a safetensors file from its header alone (nothing
    allocated for the tensors), checked: a bounded header, known dtypes, non-negative
    shapes, and data offsets that lie inside the file and fit each tensor's size."""
    from rescore.checks import parse_json

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < length <= min(MAX_HEADER_BYTES, size - 8):
            raise RescoreError(f"{path}: not a safetensors file (header length {length} in a "
                               f"file of {size} bytes)")
        raw = f.read(length)
    try:
        header = parse_json(raw.decode("utf-8"), path, max_depth=4)
    except UnicodeDecodeError:
        raise RescoreError(f"{path}: not a safetensors file (its header is not UTF-8)") from None
    if not isinstance(header, dict):
        raise RescoreError(f"{path}: not a safetensors file (its header is not an object)")
    data_bytes = size - 8 - length
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(entry, dict) and entry.get("dtype") in DTYPE_BYTES \
            and isinstance(entry.get("shape"), list) \
            and all(isinstance(d, int) and d >= 0 for d in entry["shape"]) \
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2 \
            and all(isinstance(o, int) for o in entry["data_offsets"])
        if not ok:
            raise RescoreError(f"{path}: tensor {name!r}: not a valid safetensors entry")
        begin, end = entry["data_offsets"]
        numel = 1
        for d in entry["shape"]:
            numel *= d
        if not 0 <= begin <= end <= data_bytes or end - begin != numel * DTYPE_BYTES[
                entry["dtype"]]:
            raise RescoreError(f"{path}: tensor {name!r}: its data offsets {begin}-{end} do not "
                               f"fit its shape {entry['shape']} or the file ({size} bytes)")
        out[name] = (str(entry["dtype"]), list(entry["shape"]))
    return out


def load_tensors(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against ``sha256`` when one is given."""
    if not path.exists():
        raise RescoreError(f"{path}: no such weights file")
    check_sha256(path, sha256)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise RescoreError(f"{path}: not a readable safetensors file ({err})") from None


# numpy's RNG state as checkpoints before rescore 0.3 pickled it: an array of uint32
_NUMPY_CORE: Any = getattr(np, "_core", None) or np.core
_LEGACY_NUMPY = [np.dtype, np.dtypes.UInt32DType, np.ndarray, _NUMPY_CORE.multiarray._reconstruct]


def load_plain(path: Path) -> Any:
    """A ``torch.save`` file of tensors and plain values; anything else is refused unread."""
    if not path.exists():
        raise RescoreError(f"{path}: no such checkpoint")
    try:
        with torch.serialization.safe_globals(_LEGACY_NUMPY):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines()]
        culprit = next((ln for ln in lines if "GLOBAL" in ln or "global" in ln.split(":")[0]),
                       None)
        if culprit is None:  # not an object it refused: bytes that are no pickle at all
            detail = next((ln for ln in lines if ln.startswith("Unsupported")), "not a pickle")
            raise RescoreError(f"{path}: corrupt or unreadable checkpoint ({detail})") from None
        detail = culprit.split(". Please", 1)[0].removeprefix("WeightsUnpickler error: ")
        raise UnsafeFile(f"{path}: refused: it holds Python objects, not plain tensors and "
                         f"values, and reading it could run code ({detail}); rescore never "
                         "unpickles objects") from None
    except Exception as err:  # torch raises many kinds for a damaged file
        text = str(err).splitlines()[0] if str(err) else ""
        raise RescoreError(f"{path}: corrupt or unreadable checkpoint ({type(err).__name__}: "
                           f"{text})") from None


def save_plain(obj: Any, path: Path) -> None:
    """``torch.save`` of tensors and plain values to a temporary file beside ``path``, then
    rename (what :func:`load_plain` reads)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def numpy_rng_state(state: Any = None) -> dict[str, Any]:
    """numpy's RNG state (``state``, a tuple of ``np.random.get_state``; default the global
    one now) as plain values and a tensor."""
    name, keys, pos, has_gauss, cached = np.random.get_state() if state is None else state
    return {"bit_generator": str(name), "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def set_numpy_rng_state(state: Any) -> None:
    """Restore what :func:`numpy_rng_state` gave (or the tuple older checkpoints hold)."""
    if isinstance(state, dict):
        keys = state["keys"].numpy().astype(np.uint32)
        np.random.set_state((state["bit_generator"], keys, state["pos"], state["has_gauss"],
                             state["cached_gaussian"]))
    else:
        np.random.set_state(state)
