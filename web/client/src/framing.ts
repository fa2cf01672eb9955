// Cap'n Proto stream framing, as Parley's client port speaks it over TCP: each frame is a
// segment table (segment count - 1, then each segment's size in words, padded to 8 bytes)
// followed by the segments. Over WebSocket one binary message carries one frame, so only TCP
// needs the splitter.

/** The largest frame accepted from the node. */
export const maxFrameBytes = 64 * 1024 * 1024;
const maxSegments = 512;

/** The byte length of the frame at the start of `b`, or undefined while its table is partial. */
export function frameSize(b: Uint8Array): number | undefined {
  if (b.length < 4) return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const segments = view.getUint32(0, true) + 1;
  if (segments > maxSegments) return Number.MAX_SAFE_INTEGER;
  const tableBytes = 4 * (segments + 1) + ((segments + 1) % 2 === 0 ? 0 : 4);
  if (b.length < tableBytes) return undefined;
  let words = 0;
  for (let i = 0; i < segments; ++i) words += view.getUint32(4 + 4 * i, true);
  return tableBytes + 8 * words;
}

/** Cuts a byte stream into frames. */
export class FrameSplitter {
  private buffered = new Uint8Array(0);

  /** Appends `chunk`; returns the frames it completed. Throws on a frame over maxFrameBytes. */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered);
    joined.set(chunk, this.buffered.length);
    const frames: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      const rest = joined.subarray(at);
      const size = frameSize(rest);
      if (size === undefined) break;
      if (size > maxFrameBytes) throw new Error("the node sent an oversized frame");
      if (rest.length < size) break;
      frames.push(rest.slice(0, size));
      at += size;
    }
    this.buffered = joined.slice(at);
    return frames;
  }
}
