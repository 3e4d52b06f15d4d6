// Browser half of scripts/screenshot_canvas.py (run that one; it starts ComfyUI and calls this).
//
//   node scripts/screenshot_canvas.mjs URL WORKFLOW.json OUT.png
//
// Opens the ComfyUI frontend at URL in headless Chromium ($CHROMIUM, default /usr/bin/chromium)
// through playwright-core ($PLAYWRIGHT_CORE: path of playwright-core's index.mjs, else the
// package as installed), loads the workflow into the canvas, queues it, waits until the server's
// history has the run and the Video Combine preview is playing, then saves a screenshot.
const [url, workflowPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node screenshot_canvas.mjs URL WORKFLOW.json OUT.png");
  process.exit(2);
}
const { chromium } = await import(process.env.PLAYWRIGHT_CORE || "playwright-core");
const fs = await import("node:fs");
const workflow = JSON.parse(fs.readFileSync(workflowPath, "utf8"));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, check, seconds) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await sleep(500);
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Autoplay without a user gesture: the preview <video> is muted anyway, but be explicit.
  args: ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (msg) => {
    if (msg.type() === "error") console.log(`[browser error] ${msg.text()}`);
  });
  page.on("pageerror", (err) => console.log(`[page error] ${err.message}`));
  page.on("response", (res) => {
    if (res.status() >= 400) console.log(`[http ${res.status()}] ${res.url()}`);
  });
  // A fresh user folder: mark the tutorial done so the templates dialog does not cover the canvas.
  for (const [id, value] of [
    ["Comfy.TutorialCompleted", true], ["Comfy.Minimap.Visible", false], ["Comfy.Graph.CanvasInfo", false]]) {
    await fetch(`${url}/settings/${id}`, { method: "POST", body: JSON.stringify(value) });
  }
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(
    () => window.app?.graph && window.LiteGraph?.registered_node_types?.SteadyFrameVideoCombine,
    null, { timeout: 120_000 });
  await sleep(2000);
  await page.keyboard.press("Escape"); // a first-run dialog (templates, release notes) if any

  const before = Object.keys(await (await fetch(`${url}/history`)).json()).length;
  await page.evaluate(async (wf) => {
    await window.app.loadGraphData(wf);
    await window.app.queuePrompt(0);
  }, workflow);
  const history = await waitFor("the run to finish", async () => {
    const all = await (await fetch(`${url}/history`)).json();
    const done = Object.values(all).filter((entry) => entry.status?.completed === true || entry.status?.status_str === "error");
    return done.length > before ? done[done.length - 1] : null;
  }, 300);
  if (history.status.status_str !== "success") {
    throw new Error(`the run failed: ${JSON.stringify(history.status.messages).slice(0, 2000)}`);
  }
  console.log("outputs:", JSON.stringify(history.outputs));

  // The Video Combine preview: loaded, playing on its own (web/js/video_preview.js), past its start.
  await waitFor("the Video Combine preview to play", () => page.evaluate(() => {
    const node = window.app.graph._nodes.find((n) => n.type === "SteadyFrameVideoCombine");
    const videos = (node?.widgets ?? []).flatMap((w) => [...(w.element?.querySelectorAll?.("video") ?? [])]);
    return videos.some((v) => v.readyState >= 2 && !v.paused && v.currentTime > 0.8);
  }), 60);
  const clip = await page.evaluate(() => {
    // Scroll the canvas so the graph sits at its top left, at 100%, and return the graph's
    // bounding box on screen (titles included) as the screenshot's clip.
    const canvas = window.app.canvas;
    const nodes = window.app.graph._nodes;
    const title = window.LiteGraph.NODE_TITLE_HEIGHT;
    const x0 = Math.min(...nodes.map((n) => n.pos[0]));
    const y0 = Math.min(...nodes.map((n) => n.pos[1])) - title;
    const x1 = Math.max(...nodes.map((n) => n.pos[0] + n.size[0]));
    const y1 = Math.max(...nodes.map((n) => n.pos[1] + n.size[1]));
    const margin = 24;
    const left = 90; // clear of the side bar and the workflow name
    const top = 130; // clear of the tabs and the breadcrumb
    canvas.ds.scale = 1;
    canvas.ds.offset = [left - x0, top - y0];
    canvas.setDirty(true, true);
    const box = canvas.canvas.getBoundingClientRect();
    return { x: box.left + left - margin, y: box.top + top - margin,
             width: x1 - x0 + 2 * margin, height: y1 - y0 + 2 * margin };
  });
  // Rest the pointer on empty canvas, right of the graph: nothing shows a hover state and the
  // video controls fade out.
  await page.mouse.move(clip.x + clip.width + 150, clip.y + clip.height / 2);
  await sleep(2500);
  await page.screenshot({ path: outPath, clip });
  console.log(`screenshot: ${outPath}`);
} finally {
  await browser.close();
}
