"""Self-service for the signed-in user: sign out everywhere, change password or email, delete."""
