"""The store's contract suite, run against every backend."""
