"""Files shipped with FlowChroma Studio: the default model, icons and the .desktop entry."""
