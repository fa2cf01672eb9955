// parley-client for browsers: everything but the Node-only TCP transport.
export * from "./client.js";
export * from "./session.js";
export { FrameSplitter, frameSize, maxFrameBytes } from "./framing.js";
export { type Transport } from "./transport.js";
export { webSocketTransport } from "./websocket.js";
