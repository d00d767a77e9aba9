"""A small ONNX graph builder shared by the model scripts.

Both scripts emit hundreds of nodes; naming every output by hand invites clashes, so the builder
hands out unique names and keeps nodes and constants together until the graph is sealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper


@dataclass
class GraphBuilder:
    """Nodes and initializers of a graph under construction, with unique value names."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    def constant(self, name: str, value: np.ndarray | float | int | list) -> str:
        """An initializer; Python numbers become float32 or int64 arrays."""
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: object) -> str:
        output = self.unique(output)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def model(self, name: str, inputs: list[onnx.ValueInfoProto],
              outputs: list[onnx.ValueInfoProto], *, opset: int, ir_version: int, doc: str,
              producer: str) -> onnx.ModelProto:
        """Seal the graph into a checked model."""
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name=producer, doc_string=doc)
        model.ir_version = ir_version
        onnx.checker.check_model(model, full_check=True)
        return model
