"""roofline: roofline and operational-intensity modeling for PyTorch workloads."""
