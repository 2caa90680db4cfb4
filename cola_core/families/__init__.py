"""Model families. Importing this package registers every family in `cola_core.registry`."""

from cola_core.families import ar  # noqa: F401
from cola_core.families import llada  # noqa: F401
from cola_core.families import cola  # noqa: F401
