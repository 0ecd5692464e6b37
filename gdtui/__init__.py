"""gdtui: gradient descent, live in the terminal.

``gdtui.watch(model, optimizer, path)`` records your own training loop (see :mod:`gdtui.watch`);
it is imported on first use, so ``import gdtui`` alone loads neither torch nor Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Watch", "__version__", "watch"]

if TYPE_CHECKING:
    from gdtui.watch import Watch, watch


def __getattr__(name: str) -> Any:
    if name in ("watch", "Watch"):
        import importlib

        module = importlib.import_module("gdtui.watch")
        # Importing the submodule made ``gdtui.watch`` the module; the function is what users call.
        globals()["watch"] = module.watch
        return getattr(module, name)
    raise AttributeError(f"module 'gdtui' has no attribute {name!r}")
