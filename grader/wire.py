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
import pickletools
import zipfile
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


MAX_REPLY_BYTES = 256 * 1024 * 1024  # the largest reply read at all (checked before it is read)
MAX_NESTING = 64  # containers inside containers; real replies nest a few levels


class RefusedReply(ValueError):
    """A reply that is not plain data of a sane size and shape."""


def _nesting(pickled: bytes) -> int:
    """How deeply the containers of a pickle nest, found by reading its opcodes without building anything.

    Every opcode that consumes stack items and pushes a result nests one level deeper than the
    deepest item it consumed; memo gets push the depth that was stored.
    """
    stack: list[int | None] = []  # None marks a MARK
    memo: dict[object, int] = {}
    deepest = 0
    for opcode, arg, _ in pickletools.genops(pickled):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            memo[arg if opcode.name != "MEMOIZE" else len(memo)] = stack[-1] if stack and stack[-1] is not None else 0
            continue
        if opcode.name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(arg, 0))
            continue
        if opcode.name == "MARK":
            stack.append(None)
            continue
        consumed: list[int] = []
        before = opcode.stack_before
        if pickletools.markobject in before:
            while stack and stack[-1] is not None:
                consumed.append(stack.pop())
            if stack:
                stack.pop()  # the MARK
            extra = before.index(pickletools.markobject)  # items below the mark that the opcode also takes
            for _ in range(extra):
                if stack:
                    consumed.append(stack.pop() or 0)
        else:
            for _ in range(len(before)):
                if stack:
                    consumed.append(stack.pop() or 0)
        depth = (max(consumed) + 1) if consumed else 0
        deepest = max(deepest, depth)
        stack.extend([depth] * len(opcode.stack_after))
    return deepest


def check_reply(payload: bytes) -> None:
    """Refuse a reply before it is decoded: too large, compressed (a zip bomb), or nested too deeply
    (decoding or hashing it would overflow the C stack and crash the grading process)."""
    if len(payload) > MAX_REPLY_BYTES:
        raise RefusedReply(f"the reply is {len(payload)} bytes, more than {MAX_REPLY_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile:
        raise RefusedReply("the reply is not in torch's format") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > 100_000 or sum(i.file_size for i in infos) > MAX_REPLY_BYTES:
            raise RefusedReply("the reply unpacks to more than it may hold")
        if any(i.compress_type != zipfile.ZIP_STORED or i.file_size != i.compress_size for i in infos):
            raise RefusedReply("the reply is compressed, which the worker never does")
        pickles = [i for i in infos if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"]
        if len(pickles) != 1:
            raise RefusedReply("the reply does not hold exactly one pickle")
        try:
            depth = _nesting(archive.read(pickles[0]))
        except Exception as error:
            raise RefusedReply(f"the reply's pickle is malformed ({type(error).__name__})") from None
    if depth > MAX_NESTING:
        raise RefusedReply(f"the reply nests {depth} levels deep, more than {MAX_NESTING}")


def load_saved_file(path) -> Any:
    """Read a file that student code wrote with ``torch.save`` (a checkpoint), as carefully as a reply:
    its size is checked before it is read, then it passes ``check_reply`` and the restricted unpickler."""
    import os

    size = os.path.getsize(path)
    if size > MAX_REPLY_BYTES:
        raise RefusedReply(f"{path} is {size} bytes, more than {MAX_REPLY_BYTES}")
    with open(path, "rb") as file:
        payload = file.read(MAX_REPLY_BYTES + 1)
    check_reply(payload)
    return torch.load(io.BytesIO(payload), weights_only=True)


def load_reply(payload: bytes) -> dict:
    """Decode a worker reply with torch's restricted unpickler (never runs code), after ``check_reply``."""
    check_reply(payload)
    reply = torch.load(io.BytesIO(payload), weights_only=True)
    if not isinstance(reply, dict):
        raise RefusedReply("the reply is not a dict")
    return reply


def dump_request(request: tuple) -> bytes:
    # Requests go from the trusted process to the worker, so plain pickle is fine.
    return pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)


def load_request(payload: bytes) -> tuple:
    return pickle.loads(payload)
