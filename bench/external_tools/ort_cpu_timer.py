#!/usr/bin/env python3
"""The same ONNX Runtime timer on the thread-CPU clock (ORT with one intra-op thread runs on the caller thread), for a shared host where wall-clock runs longer than a scheduler slice are stretched by preemption. One model per call, prints
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
t_end = time.thread_time() + 0.3  # 0.3 s of CPU time
while time.thread_time() < t_end or len(times) < 10:
    t0 = time.thread_time()
    sess.run(None, {inp.name: x})
    times.append((time.thread_time() - t0) * 1e3)
print(f"median_ms={statistics.median(times):.5f}")
