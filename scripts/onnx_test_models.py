"""Writes the small hand-made ONNX graphs of crates/xai-onnx/tests/data (needs the `onnx` package).

unsupported.onnx: two operators xai does not run (NonMaxSuppression, TopK) beside one it does
(Relu); loading it must name both, with their nodes, in one error line.

    python scripts/onnx_test_models.py crates/xai-onnx/tests/data
"""

import sys
from pathlib import Path

import onnx
from onnx import TensorProto, helper


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


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/xai-onnx/tests/data")
    out.mkdir(parents=True, exist_ok=True)
    unsupported(out / "unsupported.onnx")
