"""Writes the small hand-made ONNX graphs of crates/xai-onnx/tests/data (needs `onnx`, `numpy`
and `onnxruntime`).

unsupported.onnx: two operators xai does not run (NonMaxSuppression, TopK) beside one it does
(Relu); loading it must name both, with their nodes, in one error line.

op_zoo.onnx / op_zoo.json: one graph through most supported operators, with configurations the
fixtures do not reach (grouped, dilated and asymmetrically padded convolutions, BatchNorm,
average pooling, Elu/Selu/HardSwish/Softplus/Clip, Where, Pow, ReduceMax, Concat, Transpose,
Squeeze/Unsqueeze); the JSON holds random inputs and onnxruntime's outputs on them.

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
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, model_path)
    inputs = rng.standard_normal((3, 3, 9, 9)).astype(np.float32)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(None, {"x": inputs})
    json_path.write_text(json.dumps({
        "generator": f"scripts/onnx_test_models.py (onnx {onnx.__version__}, onnxruntime {ort.__version__}), seed {seed}",
        "inputs": inputs.tolist(),
        "logits": logits.tolist(),
    }))


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/xai-onnx/tests/data")
    out.mkdir(parents=True, exist_ok=True)
    unsupported(out / "unsupported.onnx")
    op_zoo(out / "op_zoo.onnx", out / "op_zoo.json")
