// The TCP transport (Node only): frames back to back on a socket, split by their segment
// tables.

import * as net from "node:net";
import { FrameSplitter } from "./framing.js";
import type { Transport } from "./transport.js";

/** Opens a TCP connection to a node's client port (Node only). */
export function tcpTransport(host: string, port: number): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    const splitter = new FrameSplitter();
    let closed = false;
    const t: Transport = {
      send: (frame) => {
        socket.write(frame);
      },
      close: () => {
        socket.destroy();
      },
      onFrame: () => {},
      onClose: () => {},
    };
    const end = (error?: Error) => {
      if (closed) return;
      closed = true;
      t.onClose(error);
    };
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", (e) => end(e));
      socket.on("close", () => end());
      socket.on("data", (chunk: Buffer) => {
        let frames: Uint8Array[];
        try {
          frames = splitter.push(chunk);
        } catch (e) {
          socket.destroy();
          return end(e as Error);
        }
        for (const f of frames) t.onFrame(f);
      });
      resolve(t);
    });
    socket.once("error", reject);
  });
}
