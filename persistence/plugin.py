"""advanced-alchemy's Litestar plugin and its configuration, imported without the Alembic
command line that the package's `__init__` imports for Litestar's CLI: alembic and mako, about
9 MiB in every worker, which never migrates when served by `taskapi run`.

The package is registered without running its `__init__`, so that its submodules (the plugin
itself) import alone. The `__init__` runs in full the first time one of the package's own names
is asked for, as `from advanced_alchemy.extensions.litestar import X` does, so code that uses the
package as documented still gets all of it.
"""

import importlib.util
import sys
from types import ModuleType

_PACKAGE = "advanced_alchemy.extensions.litestar"


def _register_without_init(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed", name=name)
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)

    def complete(attribute: str) -> object:
        del package.__getattr__  # the `__init__` defines every name it has
        loader.exec_module(package)
        return ModuleType.__getattribute__(package, attribute)

    package.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = package


_register_without_init(_PACKAGE)

from advanced_alchemy.config import AlembicAsyncConfig, AsyncSessionConfig  # noqa: E402
from advanced_alchemy.extensions.litestar.plugins import (  # noqa: E402
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)

__all__ = ["AlembicAsyncConfig", "AsyncSessionConfig", "SQLAlchemyAsyncConfig", "SQLAlchemyPlugin"]
