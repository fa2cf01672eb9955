// parley-client: see client.ts (Connection) and session.ts (Session).
export * from "./client.js";
export * from "./session.js";
export { FrameSplitter, frameSize, maxFrameBytes } from "./framing.js";
export { type Transport, tcpTransport } from "./transport.js";
