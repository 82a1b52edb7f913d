"""An OAuth 2.0 token server for FastAPI microservices."""

__version__ = "0.1.0"
