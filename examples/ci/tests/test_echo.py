"""A client on the stack streamgate serves: what it sends comes back to it."""

import asyncio
import os
import sys

import websockets


async def main() -> int:
    url = os.environ.get("STREAMGATE_WS_URL")
    if not url:
        print("STREAMGATE_WS_URL is not set: run this under streamgate-server --run", file=sys.stderr)
        return 2
    async with websockets.connect(url) as ws:
        await ws.send('{"action": "sendmessage", "data": "hello from python"}')
        got = await asyncio.wait_for(ws.recv(), timeout=10)
    if got != "hello from python":
        print(f"python: expected the message back, got {got!r}", file=sys.stderr)
        return 1
    print("python: the message came back")
    return 0


sys.exit(asyncio.run(main()))
