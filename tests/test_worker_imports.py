"""What a worker loads: Alembic (and mako, its templates) only when the worker migrates itself.

Workers that `taskapi run` starts are told `AUTO_MIGRATE=false`, the migration having run once
in a process of its own, and advanced-alchemy's Litestar package imports Alembic's command line
in its `__init__` for Litestar's CLI: about 9 MiB in every worker for nothing.
"""

import os
import subprocess
import sys

_LOADED = (
    "import sys; import service.asgi; "
    "print(' '.join(name for name in ('alembic', 'mako') if name in sys.modules))"
)


def _modules_a_worker_loads(database_url: str, auto_migrate: str) -> str:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": "s" * 32,
        "AUTO_MIGRATE": auto_migrate,
    }
    done = subprocess.run(
        [sys.executable, "-c", _LOADED], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_worker_that_does_not_migrate_never_loads_alembic(database_url):
    assert _modules_a_worker_loads(database_url, "false") == ""


def test_the_plugin_package_still_gives_every_name_it_documents():
    code = (
        "import sys; import persistence.plugin; "
        "from advanced_alchemy.extensions.litestar import AlembicCommands, SQLAlchemyPlugin; "
        "print(persistence.plugin.SQLAlchemyPlugin is SQLAlchemyPlugin, 'alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True"]
