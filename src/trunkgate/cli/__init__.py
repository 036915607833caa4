"""The `trunkgate` command line: argument parsing and output, nothing else."""
