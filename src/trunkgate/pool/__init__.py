"""The node pool: launchers, node requests, holds and the reaper."""
