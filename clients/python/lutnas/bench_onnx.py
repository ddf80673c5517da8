"""lutnas.bench_onnx moved to lutnas.measure.bench_onnx;
the old name goes in the next release (lutnas/_moved.py:
the old name is the new module, every attribute included).

Run as a script by its old path (`python3 lutnas/bench_onnx.py ...`, as a board
that copied the runner does), it runs lutnas/measure/bench_onnx.py."""

if __name__ == "__main__" and not __package__:
    import os
    import runpy
    import sys

    print("note: lutnas/bench_onnx.py moved to lutnas/measure/bench_onnx.py; "
          "the old path goes in the next release", file=sys.stderr)
    _new = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measure", "bench_onnx.py")
    sys.argv[0] = _new
    runpy.run_path(_new, run_name="__main__")
else:
    from ._moved import forward

    forward(__name__, "lutnas.measure.bench_onnx")
