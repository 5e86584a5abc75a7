"""The network: HTTP with explicit failure phases, retry policies, DashScope calls, downloads."""
