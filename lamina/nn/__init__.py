"""Building blocks: layers, sequences, trees, and the tensors and batches that fit uses."""
