"""flowlab.targets — see the design notes; no Qt here."""
