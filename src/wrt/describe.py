"""``wrt.describe``: kept as the import path of :func:`wrt.inspection.describe`.

The implementation lives in :mod:`wrt.inspection`, one module per job.
"""

from wrt.inspection.describe import describe
from wrt.inspection.torch_layers import ACTIVATION_CLASSES, ACTIVATION_NAMES

__all__ = ["ACTIVATION_CLASSES", "ACTIVATION_NAMES", "describe"]
