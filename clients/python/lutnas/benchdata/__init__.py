"""The field's public HW-NAS benchmarks as lutnas's truth: the NAS-Bench-201
and FBNet spaces (exact PyTorch construction, keys, cost), their published
measurements (data/benchmarks/), and latency tables fitted from whole-network
measurements (`fit`).
"""
