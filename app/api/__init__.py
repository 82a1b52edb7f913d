"""The HTTP edge: parse, call the domain, render. The only package that imports FastAPI."""
