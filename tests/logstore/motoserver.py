"""moto's standalone S3 server as a subprocess on loopback: the fake that
stands for a bucket here, speaking S3's REST protocol as MinIO or AWS
would. It picks its own free port and says which when it listens."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

#: The keys every test signs with: moto takes any.
ACCESS_KEY = "AKIATESTTESTTESTTEST"
SECRET_KEY = "test-secret-key"
#: How long the server may take to listen.
START_SECONDS = 30.0
_LISTENING = re.compile(rb"Running on http://[0-9.]+:(\d+)")


class MotoServer:
    """One moto server on 127.0.0.1; `endpoint` once started. With
    `checks_keys`, it refuses every request signed with a key it does not
    know (moto's IAM, with no user made: all of them)."""

    def __init__(self, *, checks_keys: bool = False, host: str = "127.0.0.1") -> None:
        self.checks_keys = checks_keys
        self.host = host
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._said = b""
        self._drainer: threading.Thread | None = None

    def start(self) -> None:
        # Nothing in the server reaches out, whatever it would try.
        env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
        if self.checks_keys:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        port = self._wait_for_port(fd)
        self.endpoint = f"http://{self.host}:{port}"
        # The server logs each request: read it all, or it blocks on a full pipe.
        self._drainer = threading.Thread(target=self._drain, args=(fd,), daemon=True)
        self._drainer.start()

    def _wait_for_port(self, fd: int) -> int:
        deadline = time.monotonic() + START_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            chunk = os.read(fd, 1 << 16) if ready else b""
            if not chunk:
                break  # it exited, or took too long
            self._said += chunk
            found = _LISTENING.search(self._said)
            if found:
                return int(found.group(1))
        self.stop()
        said = self._said.decode(errors="replace")
        raise RuntimeError(f"moto's server did not start in {START_SECONDS:g} s:\n{said}")

    @staticmethod
    def _drain(fd: int) -> None:
        while os.read(fd, 1 << 16):
            pass

    def pause(self) -> None:
        """Stop the server's process where it is (SIGSTOP), as a store that
        hangs: connections are taken, nothing is answered until `resume`.
        What it holds stays."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is None:
            return
        self.resume()  # a paused server would not end until continued
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._drainer is not None:
            self._drainer.join(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
