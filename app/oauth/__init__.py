"""The token service: sessions, grants and rate limits, free of HTTP."""
