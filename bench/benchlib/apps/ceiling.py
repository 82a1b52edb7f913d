"""The ceiling: a bare FastAPI route returning small JSON of the same shape as our
/protected, with no authentication, no logging and no metrics: what a plain route of a
user's FastAPI app costs under the same uvicorn. The reference of the protected rows."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/protected")
async def protected() -> dict[str, object]:
    return {"message": "Hello, bench", "user_id": 1, "session_id": "0" * 32}
