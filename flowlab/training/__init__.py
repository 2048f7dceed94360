"""flowlab.training — see the design notes; no Qt here."""
