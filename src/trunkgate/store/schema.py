"""The version of the stored shape, and its history.

Bump SCHEMA_VERSION with a line below whenever what the store writes changes
shape (record layout, reserved paths, backend tables); a store written by a
newer version is refused on connect.
"""

from __future__ import annotations

# 1: first shape. SQLite: tables records, sessions, meta; application_id
#    'trkg', user_version = schema. ZooKeeper: the chroot node holds
#    {"store": "trunkgate", "schema": N}; records below it, values as JSON.
SCHEMA_VERSION = 1

# Stored in the SQLite header (PRAGMA application_id) and the ZooKeeper
# chroot node so that a foreign file or node is told apart from an empty one.
STORE_MARKER = "trunkgate"
