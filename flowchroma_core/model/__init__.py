"""The FlowChroma network (network), its frozen ImageNet backbone (backbones), model files
(files) and the compute device (device)."""
