"""Authentication: JWT tokens with rotation and revocation, throttling, mail flows."""
