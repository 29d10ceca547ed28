"""ziti-controller-sim: a simulated OpenZiti controller with a real internal PKI."""

__version__ = "0.1.0"
