// The WebSocket transport (browsers, and any runtime with a standard WebSocket): each frame
// is one binary message, as the node's WebSocket port expects (server/ws_engine.hpp).

import { frameSize } from "./framing.js";
import type { Transport } from "./transport.js";

/** Opens a WebSocket to `url` (ws://host:port/ or wss://...). Rejects if it cannot open. */
export function webSocketTransport(url: string): Promise<Transport> {
  const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!WS) return Promise.reject(new Error("this runtime has no WebSocket"));
  return new Promise((resolve, reject) => {
    const ws = new WS(url);
    ws.binaryType = "arraybuffer";
    let opened = false;
    let closed = false;
    const t: Transport = {
      send: (frame) => {
        if (ws.readyState === WS.OPEN) ws.send(frame);
      },
      close: () => ws.close(),
      onFrame: () => {},
      onClose: () => {},
    };
    const end = (error?: Error) => {
      if (closed) return;
      closed = true;
      t.onClose(error);
    };
    ws.onopen = () => {
      opened = true;
      resolve(t);
    };
    ws.onmessage = (event: MessageEvent) => {
      if (!(event.data instanceof ArrayBuffer)) {
        ws.close();
        return end(new Error("the node sent a text message"));
      }
      const frame = new Uint8Array(event.data);
      if (frameSize(frame) !== frame.length) {
        ws.close();
        return end(new Error("the node sent a message that is not one frame"));
      }
      t.onFrame(frame);
    };
    ws.onerror = () => {
      if (!opened) reject(new Error(`cannot open a WebSocket to ${url}`));
    };
    ws.onclose = (event: CloseEvent) => {
      if (!opened) return reject(new Error(`cannot open a WebSocket to ${url}`));
      end(event.code === 1000 ? undefined : new Error(`WebSocket closed (${event.code})`));
    };
  });
}
