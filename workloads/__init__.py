"""DNN workloads: layer traces, training-phase expansion, fault injection and the training replay.

Importing this package does not import torch: only `zoo`, `extract`, `faults` and `train` do.
"""
