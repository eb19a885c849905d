"""Worker processes that exit when the process that started them dies.

Kept apart from `suite.running` (whose package imports torch) and stdlib-only: a pool
worker imports this module to unpickle its initializer, and it should be armed before
the worker spends seconds importing torch; a driver killed meanwhile is noticed at once.
"""

import os
import sys
import threading
import time

WATCH_PARENT_EVERY = 0.5  # seconds between a worker's checks that its driver is alive


def die_with_parent(parent: int) -> None:
    """Make this worker process exit when its driver (`parent`) dies, whatever kills it
    (kill -9 included): a process pool's workers would otherwise keep computing, orphaned.
    On Linux the kernel sends SIGKILL at once (prctl PR_SET_PDEATHSIG); everywhere a
    daemon thread checks every WATCH_PARENT_EVERY s that the parent is still ours."""
    import ctypes
    import signal

    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if os.getppid() != parent:  # died before the prctl took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(WATCH_PARENT_EVERY)
        os._exit(1)

    threading.Thread(target=watch, name="suite-parent-watch", daemon=True).start()
