#!/usr/bin/env python3
"""A user's MNN timer, one model per call: converts the ONNX file with MNN's
converter (the function behind `mnnconvert`, called in-process: the
`mnnconvert` script also tries to send a usage log, which waits for a network
this machine lacks), then times it through MNN's Python API on one thread and
prints "median_ms=X"."""
import os
import statistics
import sys
import tempfile
import time

import _tools  # MNN's converter (MNN.tools.mnnconvert calls this)
import MNN
import numpy as np

fd, mnn = tempfile.mkstemp(suffix=".mnn")
os.close(fd)
try:
    _tools.mnnconvert(["mnnconvert", "-f", "ONNX", "--modelFile", sys.argv[1], "--MNNModel", mnn,
                       "--bizCode", "lutnas"])
    interp = MNN.Interpreter(mnn)
    session = interp.createSession({"numThread": 1, "backend": "CPU"})
    inp = interp.getSessionInput(session)
    shape = inp.getShape()
    inp.copyFrom(MNN.Tensor(shape, MNN.Halide_Type_Float,
                            np.random.rand(*shape).astype(np.float32),
                            MNN.Tensor_DimensionType_Caffe))
    for _ in range(5):
        interp.runSession(session)
    times = []
    t_end = time.perf_counter() + 0.3
    while time.perf_counter() < t_end or len(times) < 10:
        t0 = time.perf_counter()
        interp.runSession(session)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"median_ms={statistics.median(times):.5f}")
finally:
    os.unlink(mnn)
