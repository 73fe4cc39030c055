"""Is nbflow's JupyterLab extension where this environment's JupyterLab looks for it?

`pip install -e .` without Node on PATH installs the Python package and leaves the
extension (the Run as flow button, the step badges) unbuilt; pip shows a build's messages
only with -v, so loading nbflow in a kernel says it in one line."""
from __future__ import annotations

import importlib.util
import os

NAME = "nbflow-jupyter"
NOTE = ("nbflow: the JupyterLab extension (the Run as flow button, the step badges) is not "
        "built: Node.js was not on PATH when nbflow was installed. To build it, install Node.js "
        "and run `pip install -e .` again in the nbflow checkout (README, \"JupyterLab\"); "
        "%%step cells and %nbflow work without it.")


def lab_extension_missing() -> bool:
    """True when JupyterLab is installed here and no labextensions folder has nbflow's."""
    if importlib.util.find_spec("jupyterlab") is None:
        return False          # no JupyterLab in this environment: nothing is missing
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return False
    return not any(os.path.isfile(os.path.join(folder, NAME, "package.json"))
                   for folder in jupyter_path("labextensions"))
