"""The core every domain reads on every request: the one clock (`clock`), the run-time policy overrides of
lifetimes and rules (`policy`) and the event journal (`journal`). Below the domains, above `store/`; the
simulation API (`controller.sim`) only moves the clock and sets the overrides."""
