"""FlowChroma Studio's desktop application (PySide6). All Qt code lives here."""
