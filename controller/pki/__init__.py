"""The internal PKI as a pure library: no FastAPI, no SQL, no wall clock (callers pass `now`)."""
