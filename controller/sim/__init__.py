"""What only a simulator has: the movable clock, fault rules, the event journal, reset and snapshots."""
