"""Tables and engines. Everything above this package sees SQL only through app.store."""
