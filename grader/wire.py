"""What crosses between the grading process and the worker that runs student code.

Only *data* crosses back from the worker: tensors, numbers, strings, bytes, ``None`` and
lists, tuples, dicts and sets of those. Any other object a student's code returns (a
tokenizer, an ``nn.Module``, a function) stays in the worker and crosses as a
``HandleRef``, a numbered ticket the grading process can use to ask for more.

The grading process decodes the worker's replies with ``torch.load(weights_only=True)``,
torch's restricted unpickler, so a reply can never make the grading process run code:
a crafted pickle from student code is refused, not executed.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from typing import Any

import torch


@dataclasses.dataclass
class HandleRef:
    """A ticket for an object that lives in the worker."""

    id: int
    type_name: str
    is_callable: bool


@dataclasses.dataclass
class ModuleRef:
    """A student module: ``ModuleRef("step00", "bigram")`` is ``step00/bigram.py``."""

    step: str
    name: str


torch.serialization.add_safe_globals([HandleRef])

_ATOMS = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)


def to_wire(value: Any, keep: "callable") -> Any:
    """Turn a worker-side value into data; ``keep(obj)`` stores anything else and returns its HandleRef."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, torch.Tensor):
        # Cut the autograd graph and any view of a larger storage: the copy is pure data.
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        items = [to_wire(v, keep) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict) and all(isinstance(k, (_ATOMS, tuple)) for k in value):
        return {to_wire(k, keep): to_wire(v, keep) for k, v in value.items()}
    if isinstance(value, set) and all(isinstance(v, _ATOMS) for v in value):
        return set(value)
    if type(value).__module__ == "numpy":
        import numpy

        if isinstance(value, numpy.ndarray):
            return torch.from_numpy(value.copy())
        if isinstance(value, numpy.generic):
            return value.item()
    return keep(value)


def dump_reply(reply: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(reply, buffer)
    return buffer.getvalue()


def load_reply(payload: bytes) -> dict:
    """Decode a worker reply with torch's restricted unpickler (never runs code)."""
    return torch.load(io.BytesIO(payload), weights_only=True)


def dump_request(request: tuple) -> bytes:
    # Requests go from the trusted process to the worker, so plain pickle is fine.
    return pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)


def load_request(payload: bytes) -> tuple:
    return pickle.loads(payload)
