"""One plain function per command: typed arguments in, data out, NbflowError raised.
The CLI (argparse + printing) and the kernel's `%nbflow` are thin adapters over these."""
