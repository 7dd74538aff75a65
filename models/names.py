"""Names shared by models/, workloads/ and simulator/, defined once (`simulator.schema` re-exports them).

Precisions and their storage size, the two switching directions of a magnetic bit, and the tensor
classes (the five a config places, plus ``none`` for energy that belongs to no tensor).
"""

PRECISIONS = ("bf16", "fp16", "fp32", "int8")
BYTES_PER_ELEMENT = {"bf16": 2, "fp16": 2, "fp32": 4, "int8": 1}
DIRECTIONS = ("p2ap", "ap2p")
PLACED_CLASSES = ("activation", "weight", "error", "weight_gradient", "optimizer_state")
TENSOR_CLASSES = PLACED_CLASSES + ("none",)
# Tensors that start the step in DRAM and must end there (dirty copies are written back).
PERSISTENT_CLASSES = ("weight", "optimizer_state")
