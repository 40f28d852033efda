"""qstar: Q*-style reasoning with language models — step trees, reward models, search, offline RL."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("qstar")
hookspec = pluggy.HookspecMarker("qstar")

__all__ = ["__version__", "hookimpl", "hookspec"]
