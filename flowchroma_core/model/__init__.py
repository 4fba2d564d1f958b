"""The FlowChroma network (network), its frozen ImageNet backbone (backbones), model files
(files), the compute device (device, with its torch-free names) and the loaded model
shared by every job (session)."""
