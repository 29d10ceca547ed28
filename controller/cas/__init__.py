"""Third-party CAs: /cas (register, verify, JWT), their trust pool for login, and CA auto-enrollment."""
