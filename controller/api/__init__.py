"""HTTP layer: thin routes over the domain services, envelopes and error mapping in one place."""
