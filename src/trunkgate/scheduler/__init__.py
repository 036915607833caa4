"""The scheduler: turns review events into queue events, keeps every
pipeline's queue state in the store, and carries out what the queues decide."""
