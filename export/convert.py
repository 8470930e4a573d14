"""Keras model -> ONNX file with the preset's input/output names (tf2onnx, opset 17).

Keras 3 on TensorFlow >= 2.16 converts only with an explicit ``input_signature`` (without one
tf2onnx fails in ``_get_save_spec``). The ONNX names the preset contract fixes (``z``, ``audio``,
``mu``, ``logvar``, ``logits``) are set here: inputs through the signature, outputs renamed by
position, because tf2onnx names outputs after the last Keras layers.
"""

from __future__ import annotations

from pathlib import Path

OPSET = 17
ONNX_IR_VERSION = 8  # readable by every onnxruntime since 1.10


def store_exact_float16(graph, min_elements: int = 65536) -> list[str]:
    """Store large float32 constants whose every value is a float16 as float16 + a Cast.

    Lossless: only tables that survive the round trip exactly qualify: the decoder's fixed
    noise table (``models.noise_table`` rounds it to float16 for this); trained float32 weights
    practically never do.
    Halves the table in both decoder files (16 bands x 16384 samples: 1 MB -> 0.5 MB each);
    ONNX Runtime folds the Cast when it loads the model. Returns the names converted.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    converted = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            continue
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(half, init.name + "_float16"))
        graph.node.insert(0, helper.make_node("Cast", [init.name + "_float16"], [init.name],
                                              to=TensorProto.FLOAT, name=init.name + "_cast"))
        converted.append(init.name)
    return converted


def share_weights(paths: list[Path], weights_name: str, min_bytes: int = 4096) -> int:
    """Move the initializers of the ONNX files ``paths`` (one folder) of ``min_bytes`` or more
    into one external-data file ``weights_name`` beside them, each distinct tensor once.

    The batch-1 and the batch-N decoder are two graphs over the same weights: the drums decoder's
    8.4 MB dense layer was in its bundle twice (19.5 of its 19.6 MB were the two decoders).
    ONNX Runtime reads external data relative to the model file. Returns the bytes written.
    """
    import hashlib

    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import set_external_data

    blob = bytearray()
    placed: dict[tuple, tuple[int, int]] = {}  # (type, dims, sha256) -> (offset, length)
    protos = [onnx.load(str(path)) for path in paths]
    for proto in protos:
        for init in proto.graph.initializer:
            raw = (init.raw_data if init.HasField("raw_data")
                   else numpy_helper.to_array(init).tobytes())
            if len(raw) < min_bytes:
                continue
            key = (init.data_type, tuple(init.dims), hashlib.sha256(raw).digest())
            if key not in placed:
                blob += bytes(-len(blob) % 64)  # aligned, so a reader may map it
                placed[key] = (len(blob), len(raw))
                blob += raw
            for typed in ("float_data", "int32_data", "int64_data", "double_data",
                          "uint64_data", "string_data"):
                init.ClearField(typed)
            init.raw_data = raw  # set_external_data asks for it, then it goes
            set_external_data(init, weights_name, *placed[key])
            init.data_location = onnx.TensorProto.EXTERNAL
            init.ClearField("raw_data")
    (paths[0].parent / weights_name).write_bytes(bytes(blob))
    for path, proto in zip(paths, protos, strict=True):
        onnx.save(proto, str(path))
        onnx.checker.check_model(str(path))
    return len(blob)


def _rename_value(graph, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for vi in list(graph.output) + list(graph.value_info):
        if vi.name == old:
            vi.name = new


def keras_to_onnx(model, input_name: str, input_shape: tuple, output_names: list[str],
                  path: str | Path, batch_name: str = "N"):
    """Convert ``model`` (one input) to ONNX at ``path`` and return the onnx.ModelProto.

    input_shape: the input's shape, ``None`` for the dynamic batch (named ``batch_name`` in the
    file) or 1 for a fixed batch. output_names: new names of the model's outputs, in order.
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = tf.TensorSpec(input_shape, tf.float32, name=input_name)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=(spec,), opset=OPSET)
    graph = proto.graph
    if len(graph.output) != len(output_names):
        raise ValueError(f"{model.name} has {len(graph.output)} outputs "
                         f"({[o.name for o in graph.output]}), expected {output_names}")
    # Rename to temporary names first so that swapping two names cannot collide.
    olds = [o.name for o in graph.output]
    for i, old in enumerate(olds):
        _rename_value(graph, old, f"__vae_synth_out_{i}")
    for i, new in enumerate(output_names):
        _rename_value(graph, f"__vae_synth_out_{i}", new)
    # A readable name for the dynamic batch instead of tf2onnx's unk__NN.
    for vi in list(graph.input) + list(graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) and not dims[0].dim_value:
            dims[0].dim_param = batch_name
    store_exact_float16(graph)
    proto.ir_version = min(proto.ir_version, ONNX_IR_VERSION)
    proto.producer_name = "vae-synth export (tf2onnx)"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return proto
