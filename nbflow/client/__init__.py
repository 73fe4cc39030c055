"""The client API (Metaflow's names): read-only, lazy views over a datastore.

    Flows() -> Flow -> Run -> Step -> Task -> DataArtifact
"""
from .core import *  # noqa: F401,F403
from .core import __all__  # noqa: F401
