"""A feed source running in a child process, seen from the test: config in, JSON reports out.

The child (`python -m <module> --child`) reads its config from stdin's first line, prints one JSON
report per loop, and stops cleanly when stdin closes. A source runs in its own process so that its
threads, sockets and reconnects are those of a real stage, and a hang cannot take the test with it.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SourceChild:
    """Start `module --child` with `config`; `on_report` sees every report, from a reader thread."""

    def __init__(self, module: str, config: dict):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self._stderr_text = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--child"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def on_report(self, report: dict) -> None:
        raise NotImplementedError

    def _read(self):
        for line in self.proc.stdout:
            self.on_report(json.loads(line))

    def stop(self) -> str:
        """Close the source (clean websocket close) and return what the child wrote to stderr."""
        if self.stderr.closed:
            return self._stderr_text
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.proc.stdout.close()
        self.stderr.seek(0)
        self._stderr_text = self.stderr.read()
        self.stderr.close()
        return self._stderr_text
