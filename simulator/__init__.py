"""Cycle-level simulator of a DNN training accelerator with SRAM or STT-MRAM scratchpads.

``simulator.run(config, workload) -> RunResult`` is the library entry point; ``python -m simulator``
the command line.
"""


def run(*args, **kwargs):
    from simulator.api import run as _run

    return _run(*args, **kwargs)
