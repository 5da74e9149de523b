"""Writes the small hand-made ONNX graphs of crates/xai-onnx/tests/data (needs `onnx`, `numpy`
and `onnxruntime`).

unsupported.onnx: two operators xai does not run (NonMaxSuppression, TopK) beside one it does
(Relu); loading it must name both, with their nodes, in one error line.

op_zoo.onnx / op_zoo.json: one graph through most supported operators, with configurations the
fixtures do not reach (grouped, dilated and asymmetrically padded convolutions, BatchNorm,
average pooling, Elu/Selu/HardSwish/Softplus/Clip, Where, Pow, ReduceMax, Concat, Transpose,
Squeeze/Unsqueeze); the JSON holds random inputs and onnxruntime's outputs on them.
op_zoo_shapes.onnx / .json: the same for Slice, Pad, Split, Tile, PRelu, ConstantOfShape, Range.
op_zoo_upsampling.onnx / .json: ConvTranspose and Resize (nearest, bilinear).

    python scripts/onnx_test_models.py crates/xai-onnx/tests/data
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def unsupported(path: Path) -> None:
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 4])
    selected = helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])
    top = helper.make_tensor_value_info("top", TensorProto.FLOAT, [1, 1, 2])
    k = helper.make_tensor("k", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("Relu", ["scores"], ["relu_out"], name="relu_1"),
        helper.make_node("NonMaxSuppression", ["boxes", "relu_out"], ["selected"], name="nms_1"),
        helper.make_node("TopK", ["relu_out", "k"], ["top", "top_idx"], name="topk_1"),
    ]
    graph = helper.make_graph(nodes, "unsupported", [boxes, scores], [selected, top], initializer=[k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def save_with_outputs(model, model_path: Path, json_path: Path, inputs, seed: int) -> None:
    """Check and save `model`, and write `inputs` with onnxruntime's outputs on them."""
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, model_path)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"x": inputs})
    json_path.write_text(json.dumps({
        "generator": f"scripts/onnx_test_models.py (onnx {onnx.__version__}, onnxruntime {ort.__version__}), seed {seed}",
        "inputs": inputs.tolist(),
        "logits": logits.tolist(),
    }))


def op_zoo(model_path: Path, json_path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)

    def init(name, *shape, scale=0.5):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [
        init("c1.weight", 4, 3, 3, 3),
        init("c1.bias", 4),
        numpy_helper.from_array((1 + 0.1 * rng.standard_normal(4)).astype(np.float32), "bn.weight"),
        init("bn.bias", 4),
        init("bn.running_mean", 4),
        numpy_helper.from_array((0.5 + rng.random(4)).astype(np.float32), "bn.running_var"),
        init("c2.weight", 6, 2, 3, 3),
        init("c2.bias", 6),
        init("fc.weight", 5, 6),
        init("fc.bias", 5),
        init("head.weight", 11, 3),
        init("head.bias", 3),
        numpy_helper.from_array(rng.random((1, 11)) > 0.5, "mask"),
        numpy_helper.from_array(np.array([0, 2, 1], dtype=np.int64), "perm_idx"),
        numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
        numpy_helper.from_array(np.array([-1, 6], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    n = helper.make_node
    nodes = [
        # conv with dilation 2 and asymmetric padding, BatchNorm, LeakyReLU
        n("Conv", ["x", "c1.weight", "c1.bias"], ["h1"], name="c1", dilations=[2, 2], pads=[2, 1, 1, 2]),
        n("BatchNormalization", ["h1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], ["h2"], name="bn", epsilon=1e-5),
        n("LeakyRelu", ["h2"], ["h3"], name="lrelu", alpha=0.1),
        # grouped, strided conv; HardSwish
        n("Conv", ["h3", "c2.weight", "c2.bias"], ["h4"], name="c2", group=2, strides=[2, 2], pads=[1, 1, 1, 1]),
        n("HardSwish", ["h4"], ["h5"], name="hswish"),
        n("AveragePool", ["h5"], ["h6"], name="avg", kernel_shape=[2, 2], strides=[1, 1]),
        n("Elu", ["h6"], ["h7"], name="elu", alpha=0.7),
        n("Clip", ["h7", "", ""], ["h7c"], name="clip_none"),
        n("Softplus", ["h7c"], ["h8"], name="softplus"),
        n("MaxPool", ["h8"], ["h9"], name="maxpool", kernel_shape=[2, 2], strides=[1, 1]),
        # two summaries of the feature map: the global average and the spatial max
        n("GlobalAveragePool", ["h9"], ["g1"], name="gap"),
        n("Flatten", ["g1"], ["g2"], name="flatten", axis=1),
        n("ReduceMax", ["h9", "axes23"], ["m1"], name="rmax", keepdims=0),
        n("Gemm", ["g2", "fc.weight", "fc.bias"], ["f1"], name="fc", transB=1),
        n("Selu", ["f1"], ["f2"], name="selu"),
        n("Concat", ["f2", "m1"], ["cat"], name="cat", axis=1),
        # elementwise odds and ends
        n("Abs", ["cat"], ["a1"], name="abs"),
        n("Add", ["a1", "one"], ["a2"], name="add_one"),
        n("Log", ["a2"], ["a3"], name="log"),
        n("Pow", ["cat", "two"], ["p1"], name="pow"),
        n("Add", ["p1", "one"], ["p2"], name="add_one_b"),
        n("Sqrt", ["p2"], ["p3"], name="sqrt"),
        n("Reciprocal", ["p3"], ["p4"], name="recip"),
        n("Mul", ["cat", "p4"], ["p5"], name="mul"),
        n("Sub", ["p5", "a3"], ["p6"], name="sub"),
        n("Neg", ["a3"], ["na3"], name="neg"),
        n("Where", ["mask", "p6", "na3"], ["w1"], name="where"),
        n("HardSigmoid", ["w1"], ["hs"], name="hsig", alpha=0.3, beta=0.4),
        n("Exp", ["hs"], ["e1"], name="exp"),
        n("Div", ["w1", "e1"], ["d1"], name="div"),
        # shape moves: [N, 11] -> [N, 11, 1] -> [1, N, 11] -> back
        n("Unsqueeze", ["d1", "axes2"], ["u1"], name="unsq"),
        n("Transpose", ["u1"], ["t1"], name="tr", perm=[2, 0, 1]),
        n("Squeeze", ["t1", "axes0"], ["s1"], name="sq"),
        n("MatMul", ["s1", "head.weight"], ["mm"], name="head_mm"),
        n("Add", ["mm", "head.bias"], ["logits_raw"], name="head_add"),
        n("Tanh", ["logits_raw"], ["t2"], name="tanh"),
        n("Softmax", ["t2"], ["sm"], name="softmax", axis=1),
        n("Mul", ["sm", "logits_raw"], ["logits"], name="mix"),
    ]
    inits += [
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes23"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes2"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 9, 9])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    used = {i for node in nodes for i in node.input}
    inits = [t for t in inits if t.name in used]
    graph = helper.make_graph(nodes, "op_zoo", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    save_with_outputs(model, model_path, json_path, rng.standard_normal((3, 3, 9, 9)).astype(np.float32), seed)


def op_zoo_shapes(model_path: Path, json_path: Path, seed: int = 1) -> None:
    """Slice (steps, clamped ends), Pad, Split, Tile, PRelu, ConstantOfShape, Range."""
    rng = np.random.default_rng(seed)
    arr = numpy_helper.from_array
    inits = [
        arr(np.array([1, 0], dtype=np.int64), "starts"),
        arr(np.array([4, 100], dtype=np.int64), "ends"),
        arr(np.array([1, 2], dtype=np.int64), "axes"),
        arr(np.array([1, 2], dtype=np.int64), "steps"),
        arr(np.array([0, 1, 0, 0, 0, 1], dtype=np.int64), "pads"),
        arr(np.array(0.5, dtype=np.float32), "pad_value"),
        arr(np.array([1, 2], dtype=np.int64), "split"),
        arr(np.array([1, 2, 1], dtype=np.int64), "repeats"),
        arr((rng.standard_normal(3) * 0.5).astype(np.float32), "prelu.slope"),
        arr(np.array([1], dtype=np.int64), "one_shape"),
        arr(np.array(0.0, dtype=np.float32), "r_start"),
        arr(np.array(2.0, dtype=np.float32), "r_limit"),
        arr(np.array(0.5, dtype=np.float32), "r_delta"),
        arr(np.array([0, -1], dtype=np.int64), "flat"),
        arr((rng.standard_normal((12, 3)) * 0.5).astype(np.float32), "head.weight"),
    ]
    n = helper.make_node
    nodes = [
        n("Slice", ["x", "starts", "ends", "axes", "steps"], ["sl"], name="slice"),  # [N, 3, 3]
        n("Split", ["sl", "split"], ["s1", "s2"], name="split", axis=1),  # [N,1,3], [N,2,3]
        n("Tile", ["s1", "repeats"], ["tl"], name="tile"),  # [N, 2, 3]
        n("PRelu", ["s2", "prelu.slope"], ["pr"], name="prelu"),
        n("Add", ["tl", "pr"], ["sum"], name="add"),
        # Pad last among the shape ops: onnx-ir 0.22 gives Pad's output the input's static shape.
        n("Pad", ["sum", "pads", "pad_value"], ["pd"], name="pad", mode="constant"),  # [N, 3, 4]
        n("ConstantOfShape", ["one_shape"], ["quarter"], name="cos",
          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25])),
        n("Range", ["r_start", "r_limit", "r_delta"], ["ramp"], name="range"),  # [0, .5, 1, 1.5]
        n("Mul", ["pd", "ramp"], ["scaled"], name="scale"),
        n("Add", ["scaled", "quarter"], ["shifted"], name="shift"),
        n("Reshape", ["shifted", "flat"], ["flat_x"], name="reshape"),
        n("MatMul", ["flat_x", "head.weight"], ["logits"], name="head"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 6])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph(nodes, "op_zoo_shapes", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    save_with_outputs(model, model_path, json_path, rng.standard_normal((3, 4, 6)).astype(np.float32), seed)


def op_zoo_upsampling(model_path: Path, json_path: Path, seed: int = 2) -> None:
    """ConvTranspose (stride 2, padding, output padding) and Resize as PyTorch exports
    `nn.Upsample`: nearest (asymmetric, floor) and bilinear (half-pixel and align-corners)."""
    rng = np.random.default_rng(seed)
    arr = numpy_helper.from_array
    inits = [
        arr((rng.standard_normal((3, 4, 3, 3)) * 0.4).astype(np.float32), "up.weight"),
        arr((rng.standard_normal(4) * 0.1).astype(np.float32), "up.bias"),
        arr(np.array([1, 1, 2, 2], dtype=np.float32), "scale2"),
        arr(np.array([1, 1, 0.5, 0.5], dtype=np.float32), "half"),
        arr(np.array([0, 6], dtype=np.int64), "flat"),
        arr((rng.standard_normal((6, 3)) * 0.5).astype(np.float32), "head.weight"),
    ]
    n = helper.make_node
    nodes = [
        # [N, 3, 5, 5] -> [N, 4, 10, 10]
        n("ConvTranspose", ["x", "up.weight", "up.bias"], ["ct"], name="up", strides=[2, 2],
          pads=[1, 1, 1, 1], output_padding=[1, 1]),
        n("Tanh", ["ct"], ["t"], name="tanh"),
        n("Resize", ["t", "", "scale2"], ["near"], name="nearest", mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor"),  # 20 × 20
        n("Resize", ["near", "", "half"], ["lin"], name="bilinear", mode="linear",
          coordinate_transformation_mode="half_pixel"),  # 10 × 10
        n("Resize", ["lin", "", "half"], ["lin2"], name="bilinear_corners", mode="linear",
          coordinate_transformation_mode="align_corners"),  # 5 × 5
        n("ReduceMean", ["lin2", "axes23"], ["m"], name="mean", keepdims=0),  # [N, 4]
        n("ReduceMax", ["lin2", "axes23"], ["mx"], name="max", keepdims=0),  # [N, 4]
        n("Concat", ["m", "mx"], ["feat8"], name="cat", axis=1),  # [N, 8]
        n("Slice", ["feat8", "s0", "s6", "ax1"], ["feat"], name="keep6"),  # [N, 6]
        n("MatMul", ["feat", "head.weight"], ["logits"], name="head"),
    ]
    inits += [
        arr(np.array([2, 3], dtype=np.int64), "axes23"),
        arr(np.array([0], dtype=np.int64), "s0"),
        arr(np.array([6], dtype=np.int64), "s6"),
        arr(np.array([1], dtype=np.int64), "ax1"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 5, 5])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    used = {i for node in nodes for i in node.input}
    inits = [t for t in inits if t.name in used]
    graph = helper.make_graph(nodes, "op_zoo_upsampling", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    save_with_outputs(model, model_path, json_path, rng.standard_normal((3, 3, 5, 5)).astype(np.float32), seed)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/xai-onnx/tests/data")
    out.mkdir(parents=True, exist_ok=True)
    unsupported(out / "unsupported.onnx")
    op_zoo(out / "op_zoo.onnx", out / "op_zoo.json")
    op_zoo_shapes(out / "op_zoo_shapes.onnx", out / "op_zoo_shapes.json")
    op_zoo_upsampling(out / "op_zoo_upsampling.onnx", out / "op_zoo_upsampling.json")
