"""What a model is made of, as its source framework sees it and as wrt runs it.

- :mod:`describe`: :func:`describe`, the JSON-ready description ``wrt inspect``
  prints;
- :mod:`operations`: the activations and non-smooth operations of the traced
  graph (shared with ``wrt check``);
- :mod:`keras_file`, :mod:`onnx_file`, :mod:`torch_file`: each format read again
  from its file (Keras layers and counts, ONNX operators, TorchScript modules,
  ``.pt2`` graph operations);
- :mod:`torch_layers`: the leaf modules of a torch module;
- :mod:`layout`: source tensors -> wrt columns, and the engines that can run it.
"""

from wrt.inspection.describe import describe

__all__ = ["describe"]
