// SteadyFrame video nodes: their previews play by themselves, muted and looping.
//
// The frontend shows a video output (and Load Video's file) in a <video> with controls that
// waits for a click; an animation preview is more useful playing, as an animated image would.
// Only autoplay and mute are added to the frontend's own element; the controls stay (unmute,
// pause, full screen), and a browser that refuses autoplay simply leaves it paused.
import { app } from "../../../scripts/app.js";

const VIDEO_NODES = new Set(["SteadyFrameLoadVideo", "SteadyFrameVideoCombine"]);
const started = new WeakSet();

function previewVideos(node) {
  const videos = [];
  for (const widget of node.widgets ?? []) {
    const element = widget.element;
    if (element instanceof HTMLVideoElement) videos.push(element);
    else if (element?.querySelectorAll) videos.push(...element.querySelectorAll("video"));
  }
  return videos;
}

function autoplay(node) {
  for (const video of previewVideos(node)) {
    if (started.has(video)) continue;
    started.add(video);
    video.muted = true; // browsers only autoplay muted media
    video.loop = true;
    video.autoplay = true; // kept when the frontend swaps in the next result's src
    video.play?.().catch(() => {});
  }
}

app.registerExtension({
  name: "SteadyFrame.VideoPreview",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (!VIDEO_NODES.has(nodeData.name)) return;
    // The preview widget is created asynchronously (after the video loads), and the canvas
    // redraws the node when it appears: checking on draw catches every new element.
    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (...args) {
      autoplay(this);
      return onDrawForeground?.apply(this, args);
    };
  },
});
