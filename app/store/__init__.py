"""SQL behind small protocols: the only package above app.db that writes SQL."""
