"""The Gerrit review source: events from `gerrit stream-events` over SSH,
changes from `gerrit query`, reports and submits over REST."""
