"""One plain function per command: typed arguments in, data out, NbflowError raised."""
