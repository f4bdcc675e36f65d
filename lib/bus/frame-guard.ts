/**
 * Watches the raw bytes of an accepted AMQP connection and cuts it when a
 * frame claims to be larger than we advertised: rhea would otherwise buffer
 * whatever size a peer announces. Follows the 8-byte protocol headers (AMQP,
 * then again after SASL) and the 4-byte size of each frame; never copies
 * more than 4 bytes.
 */
import type { Socket } from 'node:net';

const MAGIC = 0x414d5150; // "AMQP"

export function guardFrames(
  socket: Socket,
  maxFrameBytes: number,
  onViolation: (reason: string) => void,
): void {
  let want: 'header' | 'size' | 'body' = 'header';
  let remaining = 8;
  const sizeBytes: number[] = [];
  socket.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (want === 'size') {
        sizeBytes.push(chunk[i]!);
        i += 1;
        if (sizeBytes.length < 4) continue;
        const size =
          ((sizeBytes[0]! << 24) | (sizeBytes[1]! << 16) | (sizeBytes[2]! << 8) | sizeBytes[3]!) >>>
          0;
        sizeBytes.length = 0;
        if (size === MAGIC) {
          want = 'header'; // a protocol header (after SASL): 4 more bytes
          remaining = 4;
        } else if (size < 8 || size > maxFrameBytes) {
          onViolation(`frame of ${size} bytes (the limit is ${maxFrameBytes})`);
          socket.destroy();
          return;
        } else {
          want = 'body';
          remaining = size - 4;
        }
        continue;
      }
      const take = Math.min(remaining, chunk.length - i);
      i += take;
      remaining -= take;
      if (remaining === 0) want = 'size';
    }
  });
}
