"""ONNX attribute defaults as the float32 values ONNX stores (the semantics reads them exactly)."""

import numpy as np

ONNX_DEFAULT_LEAKY_ALPHA = float(np.float32(0.01))
ONNX_DEFAULT_BN_EPSILON = float(np.float32(1e-5))
