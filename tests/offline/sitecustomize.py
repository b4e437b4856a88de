"""Blocks network access in every Python process of the test run (pytest itself and each notebook kernel).

conftest.py puts this folder on PYTHONPATH, so Python imports it at start-up. Loopback and Unix sockets
still work (Jupyter kernels talk over them); anything else fails loudly, so a hidden download cannot pass.
"""
import socket

_LOCAL = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "", None)


class NetworkBlockedError(OSError):
    pass


def _refuse(target):
    raise NetworkBlockedError(
        f"network access is blocked during tests: something tried to reach {target!r}. "
        "Tests and notebooks must work offline from the bundled files in data/ and checkpoints/.")


def _host(address):
    return address[0] if isinstance(address, tuple) else address


def _is_local(host):
    return host in _LOCAL or (isinstance(host, str) and host.startswith("127."))


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host(address)):
        _refuse(address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(_host(address)):
        _refuse(address)
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_local(host.decode() if isinstance(host, bytes) else host):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
