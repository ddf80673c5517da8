#!/usr/bin/env python3
"""A user's own ONNX Runtime timer: one model per call, one thread, prints
"median_ms=X". Nothing lutnas-specific (no profiler, no reference)."""
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
x = np.random.rand(*[d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
for _ in range(5):
    sess.run(None, {inp.name: x})
times = []
t_end = time.perf_counter() + 0.3
while time.perf_counter() < t_end or len(times) < 10:
    t0 = time.perf_counter()
    sess.run(None, {inp.name: x})
    times.append((time.perf_counter() - t0) * 1e3)
print(f"median_ms={statistics.median(times):.5f}")
