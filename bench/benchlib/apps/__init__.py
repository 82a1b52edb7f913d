"""The reference servers of the rows, each served by uvicorn from the bench venv: the
ceiling of /protected, and the SQLite refresh rows' floor behind a bare route."""
