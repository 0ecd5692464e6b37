"""Faults of the machine during a run, told apart from bugs: out of memory, a GPU device error.

A CUDA out-of-memory error or a device-side assert is not bad input (the settings were valid) and
not a bug of gdtui: the user can do something about it (a smaller batch, ``--device cpu``).
:func:`device_fault` turns such an exception into one line that names the fault and the way out;
the app shows it as a notice and keeps running, ``gdtui run`` prints it and exits 1. Both still
write the traceback to the log. Torch-free: the exception is recognised by its type name and
message, so the CLI can use this without importing torch.
"""

from __future__ import annotations

from gdtui.safetext import visible

__all__ = ["device_fault"]

DETAIL_LIMIT = 120
"""Most characters of the exception's own first line quoted in the fault line."""

# Type names of torch's out-of-memory errors (torch.OutOfMemoryError is torch.cuda's too).
_OOM_TYPES = frozenset({"OutOfMemoryError", "MemoryError"})
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")
# Messages of CUDA runtime, cuBLAS, cuDNN and NCCL failures (torch raises RuntimeError or, since
# 2.8, torch.AcceleratorError, a RuntimeError).
_DEVICE_TEXT = (
    "cuda error",
    "device-side assert",
    "cublas_status",
    "cudnn_status",
    "cudnn error",
    "nccl error",
    "illegal memory access",
    "cuda driver",
)


def _device_of(text: str) -> str:
    lowered = text.lower()
    if "mps" in lowered:
        return "mps"
    if "cuda" in lowered or "gpu" in lowered:
        return "cuda"
    return "cpu"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return visible(text.splitlines()[0] if text else type(err).__name__, DETAIL_LIMIT)


def device_fault(err: BaseException) -> str | None:
    """One line for a device fault (``out of memory on cuda: …; try …``), or None if ``err``
    is not one (a bug, bad input). Control characters are made visible and the detail is cut."""
    name = type(err).__name__
    text = str(err)
    lowered = text.lower()
    if name in _OOM_TYPES or (
        isinstance(err, RuntimeError) and any(t in lowered for t in _OOM_TEXT)
    ):
        device = _device_of(text) if name != "MemoryError" else "cpu"
        if device == "cpu":
            way_out = "try a smaller batch size or model"
        else:
            way_out = "try a smaller batch size or model, or --device cpu"
        return f"out of memory on {device}: {_first_line(err)}; {way_out}"
    if isinstance(err, RuntimeError) and any(t in lowered for t in _DEVICE_TEXT):
        return (
            f"{_device_of(text)} device error: {_first_line(err)}; the GPU may be unusable until "
            "gdtui restarts: try --device cpu (CUDA_LAUNCH_BLOCKING=1 names the failing call)"
        )
    return None
