"""What the scheduler and executors exchange about builds: the request to
run a job on a tree, the answer that ends it, the words a build ends with and
where both records live in the store. Either side imports this package;
neither imports the other."""
