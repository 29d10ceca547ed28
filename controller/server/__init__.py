"""Serving the app over mutual TLS with uvicorn."""
