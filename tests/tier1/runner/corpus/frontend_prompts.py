"""Reference API prompts from the real ComfyUI frontend, for the runner's corpus check.

Loads each workflow into the frontend a running ComfyUI serves, in headless Chromium (Debian's
``chromium``), and writes what the frontend queues for it (``app.graphToPrompt()``):

    python tests/tier1/runner/corpus/frontend_prompts.py http://127.0.0.1:8311/ OUT prompts wf1.json wf2.json
    python tests/tier1/runner/corpus/frontend_prompts.py http://127.0.0.1:8311/ OUT widgets

``prompts`` writes ``OUT/<name>.json`` (the API prompt) for each workflow; ``widgets`` writes
``OUT/widgets.json``: every node type's widgets as the frontend builds them (name, kind, kept in
widgets_values, sent to the server, default). Needs ``aiohttp`` (ComfyUI's venv has it).
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import aiohttp

PORT = 9333


async def evaluate(ws, counter, expression, timeout=120):
    counter[0] += 1
    msg_id = counter[0]
    await ws.send_json({"id": msg_id, "method": "Runtime.evaluate",
                        "params": {"expression": expression, "awaitPromise": True, "returnByValue": True}})
    deadline = time.time() + timeout
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), timeout=max(1, deadline - time.time()))
        if msg.get("id") == msg_id:
            result = msg.get("result", {})
            if "exceptionDetails" in result:
                raise RuntimeError(json.dumps(result["exceptionDetails"])[:2000])
            return result.get("result", {}).get("value")


LOAD_AND_PROMPT = """
(async () => {
  const wf = %s;
  await app.loadGraphData(wf, true, false, null, {showMissingNodesDialog: false, showMissingModelsDialog: false});
  const r = await app.graphToPrompt();
  return JSON.stringify(r.output);
})()
"""

WIDGETS = """
(async () => {
  const out = {};
  for (const type of Object.keys(LiteGraph.registered_node_types)) {
    try {
      const node = LiteGraph.createNode(type);
      if (!node) continue;
      out[type] = (node.widgets || []).map(w => [w.name, w.type, w.serialize === false ? 0 : 1,
        (w.options && w.options.serialize === false) ? 0 : 1, (typeof w.value === 'object' ? null : w.value)]);
    } catch (e) { out[type] = String(e); }
  }
  return JSON.stringify(out);
})()
"""


async def main():
    server, out_dir, mode, *files = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="chrome-")
    chrome = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                               f"--remote-debugging-port={PORT}", f"--user-data-dir={profile}", server],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(60):
                try:
                    async with session.get(f"http://127.0.0.1:{PORT}/json") as resp:
                        pages = [p for p in await resp.json() if p.get("type") == "page"]
                    if pages:
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(1)
            ws_url = pages[0]["webSocketDebuggerUrl"]
            async with session.ws_connect(ws_url, max_msg_size=0) as ws:
                counter = [0]
                for _ in range(120):
                    ready = await evaluate(ws, counter, "!!(window.app && window.app.graph && window.LiteGraph && Object.keys(LiteGraph.registered_node_types).length > 100)")
                    if ready:
                        break
                    await asyncio.sleep(1)
                await asyncio.sleep(3)
                if mode == "widgets":
                    text = await evaluate(ws, counter, WIDGETS)
                    with open(os.path.join(out_dir, "widgets.json"), "w") as f:
                        f.write(text)
                    return
                for path in files:
                    name = os.path.basename(path)
                    target = os.path.join(out_dir, name)
                    try:
                        with open(path) as f:
                            wf = json.load(f)
                        text = await evaluate(ws, counter, LOAD_AND_PROMPT % json.dumps(wf))
                        with open(target, "w") as f:
                            f.write(text)
                        print("ok", name, flush=True)
                    except Exception as exc:  # noqa: BLE001
                        print("FAIL", name, str(exc)[:300], flush=True)
    finally:
        chrome.terminate()
        chrome.wait()


asyncio.run(main())
