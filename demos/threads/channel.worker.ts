// SharedChannel producer of the threads page: writes 0, 1, 2, … into the channel it is given
// (blocking `put` while the ring is full) until the page raises the stop flag, or `count` values.
import { SharedChannel } from '../../lib/index.js';

export interface ProduceRequest {
  buffer: SharedArrayBuffer;
  /** Int32 flag: the page stores 1 to stop. */
  stop: SharedArrayBuffer;
  count?: number;
}

addEventListener('message', (event: MessageEvent<ProduceRequest>) => {
  const { buffer, stop, count = Infinity } = event.data;
  const channel = SharedChannel.attach(buffer);
  const stopFlag = new Int32Array(stop);
  for (let i = 0; i < count && Atomics.load(stopFlag, 0) === 0; i++) {
    while (!channel.put(i, 50)) if (Atomics.load(stopFlag, 0) === 1) break;
  }
  channel.close();
});
