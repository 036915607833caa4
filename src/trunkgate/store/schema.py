"""The version of the stored shape, and its history.

Bump SCHEMA_VERSION with a line below whenever what the store writes changes
shape (record layout, reserved paths, backend tables); a store written by a
newer version is refused on connect.
"""

from __future__ import annotations

# 1: first shape. SQLite: tables records, sessions, meta; application_id
#    'trkg', user_version = schema. ZooKeeper: the chroot node holds
#    {"store": "trunkgate", "schema": N}; records below it, values as JSON.
# 2: the pool keeps each node's client key at /pool/node-keys/<node id>
#    ({"public", "private"}), beside and not in the node's record; an
#    autohold request holds the public keys of the people it lets in
#    ("keys", a list, empty when missing). A store of schema 1 still opens:
#    its nodes have no key and builds on them are retried on new nodes.
# 3: each provider's launcher keeps its health at /pool/providers/<name>
#    (a ProviderStatus: backoff after failed launches, by host too, and a
#    pause after the provider said it was full); a node request holds, by
#    provider, its failed launches ("attempts") and why each provider's last
#    launch failed or it declined ("causes"), both empty when missing. A
#    store of schema 2 still opens.
SCHEMA_VERSION = 3

# Stored in the SQLite header (PRAGMA application_id) and the ZooKeeper
# chroot node so that a foreign file or node is told apart from an empty one.
STORE_MARKER = "trunkgate"
