"""One plain function per command: typed arguments in, data out, NbflowError raised.

The CLI (nbflow/cli/), the kernel's `%nbflow` (nbflow/kernel/) and, through the kernel, the
JupyterLab extension are thin adapters over these: they parse arguments once and render.

    notebook_cmds  show, check                  graph of a notebook, validation findings
    running        run, resume                  a new run (listeners get RunEvents)
    inspect        logs, dump, runs             what past runs left in the store
    convert        export, import_flow          notebook <-> Metaflow flow.py
    locate         where a notebook's or a pathspec's store is
"""
