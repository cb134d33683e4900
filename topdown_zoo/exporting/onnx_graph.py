"""Fixes applied to the ONNX graph that tf2onnx 1.17 writes, so that ONNX Runtime runs it and it
reads like the model: outputs named after the exported dict's keys (``output``, ``steps``), negative
``ConvTranspose`` pads rewritten as a zero ``Pad``, and captured eager tensors bound as initializers.
Each function edits the ``onnx.ModelProto`` / ``GraphProto`` in place (Loop / If bodies included)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: the opset assumed when a graph names none (tf2onnx 1.17 writes opsets up to 18)
MAX_OPSET = 18


def onnx_opset(proto: Any) -> int:
    """The default-domain opset of an ONNX model."""
    return max((op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")), default=MAX_OPSET)


def captured_constants(concrete: Any) -> dict[str, np.ndarray]:
    """``{placeholder name: value}`` of the non-variable tensors the traced function captures
    from outside (tensors a model made eagerly, e.g. in ``build``, and keeps as attributes)."""
    out = {}
    for external, internal in concrete.graph.captures:
        if internal.dtype.name == "resource" or not hasattr(external, "numpy"):
            continue
        try:
            out[internal.name] = np.asarray(external.numpy())
        except Exception:  # noqa: BLE001 - a symbolic capture has no value: leave it to the stray check
            continue
    return out


def bind_captured_constants(proto: Any, concrete: Any, input_names: Sequence[str]) -> list[str]:
    """tf2onnx 1.17's ``from_function`` takes every non-resource input of the concrete function as a
    model input, and that includes the placeholders of captured eager tensors (variables are frozen
    into constants, eager tensors are not): the ONNX graph asks for them as extra inputs, which the
    nodes (a ``Loop`` too, when the settling loop captures them) really read. Turn each into an
    initializer holding the captured value. Returns the names of graph inputs still unexplained."""
    from onnx import numpy_helper

    captured = captured_constants(concrete)
    keep, stray = [], []
    for graph_input in proto.graph.input:
        name = graph_input.name
        if name in input_names:
            keep.append(graph_input)
        elif name in captured:
            proto.graph.initializer.append(numpy_helper.from_array(captured[name], name))
        else:
            keep.append(graph_input)
            stray.append(name)
    if len(keep) != len(proto.graph.input):
        del proto.graph.input[:]
        proto.graph.input.extend(keep)
    return stray


def fix_negative_conv_transpose_pads(graph: Any, opset: int) -> int:
    """tf2onnx turns a TensorFlow ``conv2d_transpose`` whose output is larger than the full
    transposed convolution (a stride-2 'valid' layer mirrored onto an even size: BU-TD's TD
    pass) into an ONNX ``ConvTranspose`` with negative ``pads``, which ONNX Runtime refuses.
    Negative end pads mean "extend the output with zeros", so rewrite each such node as a
    ``ConvTranspose`` with the non-negative part of the pads, followed by a zero ``Pad`` (and
    the bias added after the pad, as TensorFlow adds it to every output position).
    Returns the number of nodes rewritten (Loop/If bodies included)."""
    import onnx
    from onnx import helper

    rewritten = 0
    new_nodes = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                rewritten += fix_negative_conv_transpose_pads(attr.g, opset)
            for g in attr.graphs:
                rewritten += fix_negative_conv_transpose_pads(g, opset)
        pads_attr = next((a for a in node.attribute if a.name == "pads"), None)
        if node.op_type != "ConvTranspose" or pads_attr is None or min(pads_attr.ints, default=0) >= 0:
            new_nodes.append(node)
            continue
        pads = list(pads_attr.ints)
        rank = len(pads) // 2  # spatial dims
        extend = [max(-p, 0) for p in pads]
        pads_attr.ints[:] = [max(p, 0) for p in pads]
        out = node.output[0]
        tag = f"{node.name or out}__pad_fix"
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if bias:
            del node.input[2]
        node.output[0] = f"{tag}/convt"
        new_nodes.append(node)
        pad_values = [0, 0] + extend[:rank] + [0, 0] + extend[rank:]
        padded = f"{tag}/padded" if bias else out
        if opset >= 11:
            new_nodes.append(helper.make_node(
                "Constant", [], [f"{tag}/pads"], name=f"{tag}/pads",
                value=helper.make_tensor(f"{tag}/pads_value", onnx.TensorProto.INT64, [len(pad_values)], pad_values)))
            new_nodes.append(helper.make_node("Pad", [f"{tag}/convt", f"{tag}/pads"], [padded], name=f"{tag}/pad",
                                              mode="constant"))
        else:
            new_nodes.append(helper.make_node("Pad", [f"{tag}/convt"], [padded], name=f"{tag}/pad", mode="constant",
                                              pads=pad_values, value=0.0))
        if bias:
            shape = [1, -1] + [1] * rank
            new_nodes.append(helper.make_node(
                "Constant", [], [f"{tag}/bias_shape"], name=f"{tag}/bias_shape",
                value=helper.make_tensor(f"{tag}/bias_shape_value", onnx.TensorProto.INT64, [len(shape)], shape)))
            new_nodes.append(helper.make_node("Reshape", [bias, f"{tag}/bias_shape"], [f"{tag}/bias"],
                                              name=f"{tag}/bias_reshape"))
            new_nodes.append(helper.make_node("Add", [padded, f"{tag}/bias"], [out], name=f"{tag}/bias_add"))
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return rewritten


def name_outputs(proto: Any, concrete: Any) -> None:
    """tf2onnx names outputs after TensorFlow tensors (``Identity:0``); rename them after the
    keys of the function's output dict (``output``, ``steps``)."""
    import tensorflow as tf

    structured = concrete.structured_outputs
    keys = sorted(structured) if isinstance(structured, dict) else []
    flat = tf.nest.flatten(structured)  # dicts flatten in sorted-key order, like the graph outputs
    if len(keys) != len(flat) or len(proto.graph.output) != len(flat):
        return
    _rename_tensors(proto.graph, {out.name: key for out, key in zip(proto.graph.output, keys)})


def _rename_tensors(graph: Any, rename: dict[str, str]) -> None:
    for out in graph.output:
        out.name = rename.get(out.name, out.name)
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
        for attr in node.attribute:  # Loop / If bodies read outer-scope tensors by name
            if attr.g is not None and attr.g.ByteSize():
                _rename_inner(attr.g, rename)
            for g in attr.graphs:
                _rename_inner(g, rename)


def _rename_inner(graph: Any, rename: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        for attr in node.attribute:
            if attr.g is not None and attr.g.ByteSize():
                _rename_inner(attr.g, rename)


def basic_optimized(proto: Any) -> tuple[Any, int]:
    """``proto`` after ONNX Runtime's basic, provider-independent graph optimizations (constant
    folding, cancelling transpose pairs, removing redundant nodes), kept only if the result is still
    plain ONNX (default-domain operators) that passes the checker. tf2onnx leaves a pair of layout
    transposes around every NHWC-only op it could not push through (BU-TD's gates; 2 transposes
    remain after this pass, the input's and the output's); other runtimes than ONNX Runtime would run them. Returns the graph and the
    number of nodes removed (0: ``proto`` itself, unchanged)."""
    import tempfile
    from pathlib import Path

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="topdown_zoo_onnx_") as tmp:
        source, target = Path(tmp) / "exported.onnx", Path(tmp) / "optimized.onnx"
        onnx.save(proto, str(source))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(target)
        options.log_severity_level = 3  # its "unused initializer" warnings are about tf2onnx's leftovers
        try:
            ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
            optimized = onnx.load(str(target))
            onnx.checker.check_model(optimized)
        except Exception:  # noqa: BLE001 - an optimization ONNX Runtime cannot do leaves the graph as it is
            return proto, 0
    if any(node.domain not in ("", "ai.onnx") for node in _all_nodes(optimized.graph)):
        return proto, 0
    removed = sum(1 for _ in _all_nodes(proto.graph)) - sum(1 for _ in _all_nodes(optimized.graph))
    if removed <= 0:
        return proto, 0
    del optimized.metadata_props[:]
    optimized.metadata_props.extend(proto.metadata_props)
    optimized.producer_name, optimized.producer_version = proto.producer_name, proto.producer_version
    return optimized, removed


def _all_graphs(graph: Any) -> Any:
    """``graph`` and every graph nested in it (Loop / If / Scan bodies), outermost first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None and attr.g.ByteSize():
                yield from _all_graphs(attr.g)
            for g in attr.graphs:
                yield from _all_graphs(g)


def _all_nodes(graph: Any) -> Any:
    """Every node of ``graph``, Loop / If bodies included."""
    for g in _all_graphs(graph):
        yield from g.node


def standard_nearest_resize(graph: Any) -> int:
    """tf2onnx writes TensorFlow's nearest-neighbour resize as ``Resize`` with
    ``coordinate_transformation_mode="tf_half_pixel_for_nn"``, deprecated since opset 13 (ONNX Runtime
    warns on every session). For a whole-number upscale factor f it picks input ⌊(i + ½) / f⌋ = ⌊i / f⌋,
    exactly what ``"asymmetric"`` with ``nearest_mode="floor"`` picks: rewrite such nodes (constant
    integer ``scales``; Loop / If bodies included). Returns the number rewritten."""
    from onnx import helper, numpy_helper

    rewritten = 0
    for g in _all_graphs(graph):
        scales = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        for node in g.node:
            if node.op_type != "Resize" or len(node.input) < 3 or node.input[2] not in scales:
                continue
            attrs = {a.name: a for a in node.attribute}
            modes = tuple(helper.get_attribute_value(attrs[k]) if k in attrs else None
                          for k in ("mode", "nearest_mode", "coordinate_transformation_mode"))
            factor = scales[node.input[2]]
            if (modes != (b"nearest", b"floor", b"tf_half_pixel_for_nn") or factor.size == 0
                    or np.any(factor < 1) or np.any(factor != np.round(factor))):
                continue
            attrs["coordinate_transformation_mode"].s = b"asymmetric"
            rewritten += 1
    return rewritten
