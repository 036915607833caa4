"""The `namespace` driver: real, disposable nodes on this host from kernel
namespaces, overlayfs and sshd; see `driver.NamespaceDriver`.
"""

from trunkgate.pool.drivers.namespace import host, registry
from trunkgate.pool.drivers.namespace.driver import NamespaceDriver
from trunkgate.pool.drivers.namespace.settings import NamespaceSettings, require_root

__all__ = ["NamespaceDriver", "NamespaceSettings", "host", "registry", "require_root"]
