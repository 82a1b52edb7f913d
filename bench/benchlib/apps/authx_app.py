"""AuthX's documented pattern: `Depends(auth.access_token_required)` on a route, tokens
from the Authorization header, HS256 with a shared secret. AuthX keeps no server-side
session, so this is signature + claims checking only (our /protected also reads the
session row, which is what makes logout immediate)."""

import os

from authx import AuthX, AuthXConfig, TokenPayload
from fastapi import Depends, FastAPI

config = AuthXConfig(
    JWT_SECRET_KEY=os.environ["BENCH_JWT_SECRET"],
    JWT_ALGORITHM="HS256",
    JWT_TOKEN_LOCATION=["headers"],
)
auth = AuthX(config=config)
app = FastAPI()
auth.handle_errors(app)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/bench-token")
async def bench_token() -> dict[str, str]:
    return {"access_token": auth.create_access_token(uid="1", expiry=None)}


@app.get("/protected")
async def protected(payload: TokenPayload = Depends(auth.access_token_required)) -> dict[str, object]:
    return {"message": f"Hello, {payload.sub}", "user_id": int(payload.sub), "session_id": "0" * 32}
