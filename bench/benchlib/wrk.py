"""wrk, pinned to the load core, with generated Lua scripts and a JSON summary.

wrk takes one script, so each scenario is a small Lua prelude (method, body, a refresh
token queue) followed by the shared `done()` that prints the summary as one
JSON line. wrk's latency histogram is exact to the microsecond, so its p50/p99 are used
as they are.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchlib.config import LOAD_CORE

REPORT_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.status, e.connect + e.read + e.write + e.timeout))
  if done_hook then done_hook() end
end
"""

# A queue of refresh tokens: each request spends the oldest, each 200 response appends
# its successor, so every request presents a token that was never used. What is left at
# the end is written back for the next run (chains in flight when wrk stops are lost).
REFRESH_LUA = r"""
queue, head, tail = {}, 1, 0
for line in io.lines(%(tokens_in)s) do tail = tail + 1; queue[tail] = line end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  local token = "exhausted"
  if head <= tail then token = queue[head]; queue[head] = nil; head = head + 1 end
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
                    "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  local token = body:match('"refresh_token"%%s*:%%s*"([^"]+)"')
  if token then tail = tail + 1; queue[tail] = token end
end
function done_hook()
  local out = io.open(%(tokens_out)s, "w")
  for _, t in ipairs(threads) do
    local q, h, tl = t:get("queue"), t:get("head"), t:get("tail")
    for i = h, tl do if q[i] then out:write(q[i], "\n") end end
  end
  out:close()
end
"""

FORM_POST_LUA = r"""
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""

@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def write_script(path: Path, *preludes: str) -> Path:
    path.write_text("".join(preludes) + REPORT_LUA)
    return path


def refresh_script(path: Path, tokens_in: Path, tokens_out: Path) -> Path:
    return write_script(path, REFRESH_LUA % {"tokens_in": json.dumps(str(tokens_in)), "tokens_out": json.dumps(str(tokens_out))})


def form_post_script(path: Path, body: str) -> Path:
    return write_script(path, FORM_POST_LUA % {"body": json.dumps(body)})


def start(url: str, *, seconds: float, connections: int, script: Path,
          headers: dict[str, str] | None = None, timeout_s: int = 10) -> subprocess.Popen[str]:
    argv = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s", "-s", str(script)]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen[str]) -> WrkResult:
    out, _ = proc.communicate()
    for line in out.splitlines():
        if line.startswith("BENCHJSON "):
            d = json.loads(line[len("BENCHJSON "):])
            return WrkResult(
                requests=d["requests"], seconds=d["duration_us"] / 1e6,
                p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000,
                errors=d["status_errors"] + d["socket_errors"],
            )
    raise RuntimeError(f"wrk printed no summary: {out[-500:]}")


def run(url: str, **kwargs: object) -> WrkResult:
    return finish(start(url, **kwargs))  # type: ignore[arg-type]
