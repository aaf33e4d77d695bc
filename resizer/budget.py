"""A CPU-time budget for one image: ``RLIMIT_CPU`` and the ``SIGXCPU`` it sends.

The kernel sends ``SIGXCPU`` when the process has used its soft ``RLIMIT_CPU``
(CPU seconds, user + system) and again every second after, then ``SIGKILL`` at
the hard limit (``setrlimit(2)``). The handler here turns the first ``SIGXCPU``
into :class:`~thumbnailer.api.ImageRejected` with reason ``TooComplex``, raised
in the main thread at the next Python instruction: Pillow decodes in chunks of
at most 64 KiB of input (``ImageFile.load``), so control comes back, though
not at once: a JPEG scan flood (its pre-check disabled) overran a 3 s budget by
up to 5 s before the handler ran. The hard limit, :data:`HARD_LIMIT_GRACE`
seconds later, is the backstop for a C call that does not return (the pod then
dies with SIGKILL, exit 137).
"""

from __future__ import annotations

import contextlib
import resource
import signal
from typing import Iterator

from thumbnailer.api import ImageRejected

#: Seconds between the soft limit (``TooComplex``) and the hard one (SIGKILL).
HARD_LIMIT_GRACE = 10


def cpu_used() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_budget(seconds: int, hard: bool = False) -> Iterator[None]:
    """Within the block, at most ``seconds`` more CPU seconds; then :class:`ImageRejected` ``TooComplex``.

    ``hard=True`` also lowers the hard limit to the budget plus :data:`HARD_LIMIT_GRACE`
    (an unprivileged process cannot raise it again, so only the resizer program, which
    exits afterwards, asks for it). The previous soft limit and ``SIGXCPU`` handler are
    restored on exit. Main thread only (``signal.signal``).
    """
    previous_soft, previous_hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = cpu_used()
    soft = int(used) + 1 + seconds  # RLIMIT_CPU counts whole seconds of the process's whole life

    def over_budget(signum, frame):
        raise ImageRejected("TooComplex", f"the image needs more than {seconds} s of CPU time to decode "
                                          "(MAX_CPU_SECONDS): a crafted or pathologically complex file")

    new_hard = previous_hard
    if hard:
        new_hard = soft + HARD_LIMIT_GRACE if previous_hard == resource.RLIM_INFINITY else \
            min(previous_hard, soft + HARD_LIMIT_GRACE)
    if new_hard != resource.RLIM_INFINITY:
        soft = min(soft, new_hard)
    previous_handler = signal.signal(signal.SIGXCPU, over_budget)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))
    try:
        yield
    finally:
        # With hard=True the hard limit stays lowered (it cannot be raised again): so does the soft one.
        resource.setrlimit(resource.RLIMIT_CPU, (new_hard, new_hard) if hard else (previous_soft, previous_hard))
        signal.signal(signal.SIGXCPU, previous_handler)


def cap_process_cpu(seconds: int) -> None:
    """Lower the hard ``RLIMIT_CPU`` to ``seconds`` more CPU seconds for the rest of this process's life.

    A batch's backstop: the kernel SIGKILLs the process there (``setrlimit(2)``), however the
    items share it. Irreversible for an unprivileged process, so only the resizer program calls
    it; each item's own budget is then :func:`cpu_budget` without ``hard``.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = int(cpu_used()) + 1 + seconds
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))
