"""Exit a test server when the process that started it dies.

Test servers are started by the Swift test runner, which may be killed without a chance to stop them; a server
that outlived its runner would hold its port and its temp dir. Each server calls `exit_with_parent()` once it is
set up: a daemon thread polls the parent's pid and ends the process (without cleanup, `os._exit(0)`) when the
parent is gone. The ComfyUI stand-in keeps its own copy, because it is also copied into a checkout as `main.py`
where this module is not beside it.
"""

import os
import threading
import time


def exit_with_parent(interval=0.5):
    """Starts the watcher thread; `interval` is the poll period in seconds."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
