// SteadyFrame Animated Sampling Preview: the sampler node plays the frames of the batch while it samples.
//
// comfy_glue/sampling_preview.py sends a "steadyframe.preview" message per due step:
// { node, display_node, prompt_id, step, steps, total_frames, indices, frame_rate, mime, frames: [base64] }.
// The frames are shown in a DOM widget of the sampler node (the node that ran the sampling), looping
// at frame_rate; each new step's frames replace the last ones without restarting the loop. The widget
// is never saved with the workflow nor sent in a prompt (serialize: false), so saved workflows and
// API prompts are unchanged. Core's own single-frame preview is left as it is.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";

const EVENT = "steadyframe.preview";
const WIDGET_NAME = "steadyframe_animated_preview";
const players = new Map(); // node id (as sent) -> Player

function findNode(message) {
  const ids = [message.display_node, message.node].filter((id) => id != null).map(String);
  for (const id of ids) {
    const node = app.graph?.getNodeById?.(id) ?? app.graph?.getNodeById?.(Number(id));
    if (node) return node;
  }
  // A node inside the subgraph that is open: its id is the last part of the execution path.
  const local = ids.length ? ids[ids.length - 1].split(":").pop() : null;
  return local != null ? app.canvas?.graph?.getNodeById?.(Number(local)) ?? null : null;
}

class Player {
  constructor(node) {
    this.node = node;
    this.images = [];
    this.index = 0;
    this.timer = null;
    this.rate = 0;
    const box = document.createElement("div");
    box.style.cssText = "display:flex;flex-direction:column;align-items:center;width:100%;height:100%;";
    this.img = document.createElement("img");
    this.img.style.cssText = "flex:1;min-height:0;max-width:100%;object-fit:contain;image-rendering:auto;";
    this.caption = document.createElement("div");
    this.caption.style.cssText = "font-size:10px;opacity:0.7;text-align:center;";
    box.append(this.img, this.caption);
    this.widget =
      node.widgets?.find((w) => w.name === WIDGET_NAME) ??
      node.addDOMWidget(WIDGET_NAME, "steadyframe-preview", box, { serialize: false, hideOnZoom: false });
    this.widget.serialize = false;
    this.widget.computeLayoutSize = () => ({ minHeight: 96, minWidth: 64 });
    this.box = this.widget.element ?? box;
  }

  show(message) {
    this.images = message.frames.map((data) => {
      const image = new Image();
      image.src = `data:${message.mime};base64,${data}`;
      return image;
    });
    this.caption.textContent =
      `step ${message.step}/${message.steps} · ${message.frames.length} of ${message.total_frames} frames`;
    if (message.frame_rate !== this.rate || this.timer === null) {
      this.rate = message.frame_rate;
      this.stop();
      this.timer = setInterval(() => this.tick(), 1000 / Math.max(this.rate, 0.5));
    }
    this.tick();
    app.graph?.setDirtyCanvas?.(true, true);
  }

  tick() {
    if (!this.node.graph) {
      // The node was deleted (or its graph closed): stop playing and forget it.
      this.stop();
      for (const [id, player] of players) if (player === this) players.delete(id);
      return;
    }
    if (!this.images.length) return;
    this.index = (this.index + 1) % this.images.length;
    this.img.src = this.images[this.index].src;
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

app.registerExtension({
  name: "SteadyFrame.SamplingPreview",
  setup() {
    api.addEventListener(EVENT, ({ detail }) => {
      if (!detail || !Array.isArray(detail.frames) || !detail.frames.length) return;
      const node = findNode(detail);
      if (!node) return;
      const key = String(detail.node ?? detail.display_node);
      let player = players.get(key);
      if (!player || player.node !== node || !node.widgets?.includes(player.widget)) {
        player?.stop();
        player = new Player(node);
        players.set(key, player);
      }
      player.show(detail);
    });
  },
});
