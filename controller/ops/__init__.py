"""What operators of a lab use: health checks, readiness, and certificate-expiry insight."""
