"""Saving and loading models (safetensors weights + a JSON spec), ONNX export, summaries."""
