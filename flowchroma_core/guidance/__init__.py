"""Restorer colour guidance: everything around the network that takes hints and references."""
