"""The router control channel: framing, edge_ctrl messages, the listener, and its handlers (control-channel.md)."""
