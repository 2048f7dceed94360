"""flowlab.presets — see the design notes; no Qt here."""
