"""Plain data across the sandbox wall: what a student's function may hand back to the grader.

The student's kernel encodes a return value with ``encode``; the grader rebuilds it with
``decode``. The format is JSON of tagged nodes, so decoding runs no student code and can only
make objects of the listed types — never a pickle, never a student class:

    ["none"] ["bool", b] ["int", "123"] ["float", 1.5 | "nan" | "inf" | "-inf"] ["str", s]
    ["complex", re, im] ["bytes", base64]
    ["list" | "tuple" | "set" | "frozenset", [node, ...]]
    ["dict" | "Counter", [[key node, value node], ...]]
    ["tensor", dtype, shape, base64 of the contiguous bytes]      (torch.Tensor, dense, CPU)
    ["ndarray", dtype, shape, base64] ["npscalar", dtype, base64] (numpy, numeric dtypes only)
    ["generator", base64 of torch.Generator.get_state()]

``decode`` checks every node (tag, arity, types, sizes, nesting) and raises ``WireError`` on
anything else: the grader then reports "returned a value the grader cannot check". Limits keep
a hostile kernel from exhausting the grader's memory: ``MAX_BYTES`` of payload in all, nesting
at most ``MAX_DEPTH``, integers of at most ``MAX_INT_DIGITS`` digits.

Encoding runs in the student's kernel and a student can replace it; that only changes what
their function is reported to return, which they control anyway. Trust lives in ``decode``.
"""

from __future__ import annotations

import base64
import collections
import json
import math

MAX_BYTES = 64 * 2**20
MAX_DEPTH = 32
MAX_INT_DIGITS = 4000

TENSOR_DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128",
                 "uint8", "int8", "int16", "int32", "int64", "bool")
NUMPY_DTYPES = ("float16", "float32", "float64", "complex64", "complex128", "uint8", "uint16",
                "uint32", "uint64", "int8", "int16", "int32", "int64", "bool")
_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class WireError(ValueError):
    """A value that cannot cross the sandbox wall (the message names the type or the problem)."""


# --- the kernel side -----------------------------------------------------------------------

def _float_node(value: float) -> list:
    if math.isnan(value):
        return ["float", "nan"]
    if math.isinf(value):
        return ["float", "inf" if value > 0 else "-inf"]
    return ["float", value]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _tensor_node(value) -> list:
    import torch

    tensor = value.detach()
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    tensor = tensor.cpu().contiguous()
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in TENSOR_DTYPES:
        raise WireError(f"a tensor of dtype {dtype} cannot be checked")
    flat = tensor.reshape(-1)
    raw = flat.view(torch.uint8) if tensor.dtype != torch.bool else flat.to(torch.uint8)
    return ["tensor", dtype, list(tensor.shape), _b64(raw.numpy().tobytes())]


def _numpy_node(value) -> list:
    import numpy as np

    dtype = str(value.dtype)
    if dtype not in NUMPY_DTYPES:
        raise WireError(f"a numpy value of dtype {dtype} cannot be checked")
    if isinstance(value, np.ndarray):
        return ["ndarray", dtype, list(value.shape), _b64(np.ascontiguousarray(value).tobytes())]
    return ["npscalar", dtype, _b64(value.tobytes())]


def to_node(value, depth: int = 0):
    """The tagged JSON node of ``value`` (exact types only; subclasses become their base)."""
    if depth > MAX_DEPTH:
        raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(value).__module__ + "." + type(value).__qualname__
    if value is None:
        return ["none"]
    if isinstance(value, bool):
        return ["bool", bool(value)]
    if isinstance(value, int) and kind.startswith("builtins."):
        return ["int", str(int(value))]
    if isinstance(value, float) and kind.startswith("builtins."):
        return _float_node(float(value))
    if isinstance(value, complex) and kind.startswith("builtins."):
        return ["complex", _float_node(value.real), _float_node(value.imag)]
    if isinstance(value, str):
        return ["str", str(value)]
    if isinstance(value, (bytes, bytearray)):
        return ["bytes", _b64(bytes(value))]
    if isinstance(value, collections.Counter):
        return ["Counter", [[to_node(k, depth + 1), to_node(v, depth + 1)] for k, v in value.items()]]
    if isinstance(value, dict):
        return ["dict", [[to_node(k, depth + 1), to_node(v, depth + 1)] for k, v in value.items()]]
    for tag, container in _CONTAINERS.items():
        if isinstance(value, container):
            return [tag, [to_node(item, depth + 1) for item in value]]
    if kind.startswith("torch.") and type(value).__name__ == "Generator":
        return ["generator", _b64(value.get_state().numpy().tobytes())]
    if hasattr(value, "__torch_function__") and hasattr(value, "detach"):
        return _tensor_node(value)
    if kind.startswith("numpy."):
        return _numpy_node(value)
    raise WireError(f"a value of type {type(value).__name__} cannot be checked; return plain "
                    "data (numbers, strings, lists, tuples, dicts, tensors, numpy arrays)")


def encode(value) -> str:
    """``value`` as wire JSON; ``WireError`` for a type the grader does not accept."""
    return json.dumps(to_node(value), allow_nan=False)


# --- the grader side -----------------------------------------------------------------------

class _Budget:
    def __init__(self, limit: int):
        self.left = limit

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise WireError(f"the value is larger than {MAX_BYTES // 2**20} MiB")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise WireError(f"malformed value: {what}")


def _float(node) -> float:
    if node in ("nan", "inf", "-inf"):
        return float(node)
    _expect(type(node) in (int, float) and not isinstance(node, bool), "a float")
    return float(node)


def _shape(shape) -> tuple[int, ...]:
    _expect(type(shape) is list and len(shape) <= MAX_DEPTH, "a shape")
    _expect(all(type(n) is int and 0 <= n < 2**40 for n in shape), "a shape")
    return tuple(shape)


def _raw(text, budget: _Budget) -> bytes:
    _expect(type(text) is str, "base64 text")
    budget.spend(len(text))
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("malformed value: base64 text") from None


def _tensor(node, budget: _Budget):
    import torch

    _expect(len(node) == 4 and node[1] in TENSOR_DTYPES, "a tensor")
    shape, raw = _shape(node[2]), _raw(node[3], budget)
    dtype = getattr(torch, node[1])
    count = math.prod(shape)
    itemsize = 1 if dtype == torch.bool else torch.empty((), dtype=dtype).element_size()
    _expect(len(raw) == count * itemsize, "tensor bytes that match its shape")
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    if dtype == torch.bool:
        _expect(bool((flat <= 1).all()), "booleans")
        return flat.to(torch.bool).reshape(shape).clone()
    return flat.view(dtype).reshape(shape).clone()


def _numpy(node, budget: _Budget):
    import numpy as np

    if node[0] == "npscalar":
        _expect(len(node) == 3 and node[1] in NUMPY_DTYPES, "a numpy scalar")
        raw = _raw(node[2], budget)
        _expect(len(raw) == np.dtype(node[1]).itemsize, "numpy scalar bytes")
        return np.frombuffer(raw, dtype=node[1])[0].copy()
    _expect(len(node) == 4 and node[1] in NUMPY_DTYPES, "a numpy array")
    shape, raw = _shape(node[2]), _raw(node[3], budget)
    _expect(len(raw) == math.prod(shape) * np.dtype(node[1]).itemsize, "array bytes")
    array = np.frombuffer(raw, dtype=node[1]).reshape(shape).copy()
    if node[1] == "bool":
        _expect(bool((array.view(np.uint8) <= 1).all()), "booleans")
    return array


def from_node(node, budget: _Budget, depth: int = 0):
    """The value of a tagged node; ``WireError`` for anything outside the format."""
    _expect(depth <= MAX_DEPTH, f"nested at most {MAX_DEPTH} levels")
    _expect(type(node) is list and node and type(node[0]) is str, "a tagged node")
    tag, body = node[0], node[1:]
    budget.spend(16)
    if tag == "none":
        _expect(not body, "none")
        return None
    if tag == "bool":
        _expect(len(body) == 1 and type(body[0]) is bool, "a bool")
        return body[0]
    if tag == "int":
        _expect(len(body) == 1 and type(body[0]) is str and 0 < len(body[0]) <= MAX_INT_DIGITS
                and body[0].lstrip("-").isdigit() and body[0].isascii(), "an int")
        budget.spend(len(body[0]))
        return int(body[0])
    if tag == "float":
        _expect(len(body) == 1, "a float")
        return _float(body[0])
    if tag == "complex":
        _expect(len(body) == 2 and all(type(p) is list and len(p) == 2 and p[0] == "float"
                                       for p in body), "a complex number")
        return complex(_float(body[0][1]), _float(body[1][1]))
    if tag == "str":
        _expect(len(body) == 1 and type(body[0]) is str, "a str")
        budget.spend(len(body[0]))
        return body[0]
    if tag == "bytes":
        _expect(len(body) == 1, "bytes")
        return _raw(body[0], budget)
    if tag in _CONTAINERS:
        _expect(len(body) == 1 and type(body[0]) is list, f"a {tag}")
        items = [from_node(item, budget, depth + 1) for item in body[0]]
        try:
            return _CONTAINERS[tag](items)
        except TypeError:
            raise WireError(f"malformed value: unhashable items in a {tag}") from None
    if tag in ("dict", "Counter"):
        _expect(len(body) == 1 and type(body[0]) is list
                and all(type(p) is list and len(p) == 2 for p in body[0]), f"a {tag}")
        pairs = [(from_node(k, budget, depth + 1), from_node(v, budget, depth + 1)) for k, v in body[0]]
        try:
            return dict(pairs) if tag == "dict" else collections.Counter(dict(pairs))
        except TypeError:
            raise WireError(f"malformed value: unhashable keys in a {tag}") from None
    if tag == "tensor":
        return _tensor(node, budget)
    if tag in ("ndarray", "npscalar"):
        return _numpy(node, budget)
    if tag == "generator":
        import torch

        _expect(len(body) == 1, "a generator state")
        state = torch.frombuffer(bytearray(_raw(body[0], budget)), dtype=torch.uint8).clone()
        generator = torch.Generator()
        try:
            generator.set_state(state)
        except RuntimeError:
            raise WireError("malformed value: a generator state") from None
        return generator
    raise WireError(f"malformed value: unknown tag {tag[:20]!r}")


def decode(text) -> object:
    """The value encoded in wire JSON ``text``; ``WireError`` if it is anything else."""
    if type(text) is not str or len(text) > MAX_BYTES:
        raise WireError(f"the value is not wire text of at most {MAX_BYTES // 2**20} MiB")
    try:
        node = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(
            WireError(f"malformed value: {name}")))
    except (json.JSONDecodeError, RecursionError):
        raise WireError("malformed value: not JSON") from None
    return from_node(node, _Budget(MAX_BYTES))


def is_leaf(value) -> bool:
    """A tensor, numpy array or torch generator: an argument a function may change in place."""
    module = type(value).__module__
    if module.startswith("torch") and type(value).__name__ == "Generator":
        return True
    if module.startswith("numpy") and type(value).__name__ == "ndarray":
        return True
    return hasattr(value, "__torch_function__") and hasattr(value, "detach")


def leaves(value, found: list | None = None, depth: int = 0) -> list:
    """The mutable leaves of ``value`` in a fixed order: through lists, tuples and dict values."""
    found = [] if found is None else found
    if depth > MAX_DEPTH:
        return found
    if is_leaf(value):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            leaves(item, found, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            leaves(item, found, depth + 1)
    return found
