"""The ceiling: a bare FastAPI route returning small JSON of the same shape as our
/protected, with no authentication at all. No server built on this FastAPI and uvicorn
can answer faster, so it is the reference of the protected and peers rows."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/protected")
async def protected() -> dict[str, object]:
    return {"message": "Hello, bench", "user_id": 1, "session_id": "0" * 32}
