// How frames reach the node. A transport carries whole frames both ways; the connection
// (client.ts) does not care whether they travel over TCP (Node: tcp.ts) or WebSocket (browsers:
// websocket.ts, one frame per binary message).

export interface Transport {
  /** Sends one whole frame. */
  send(frame: Uint8Array): void;
  /** Closes; onClose follows. */
  close(): void;
  /** Set by the connection: each frame from the node. */
  onFrame: (frame: Uint8Array) => void;
  /** Set by the connection: the transport ended (an error, or undefined for a clean end). */
  onClose: (error?: Error) => void;
}
