// The async iterator of streamChat. Rust hands over a whole network read's chunks at once
// (one Promise per read, not per chunk); this queue serves them one by one.

import { BYOKError } from './byok_error.js';

export class ChunkStream {
  constructor(handle, signal) {
    this._handle = handle;
    this._signal = signal;
    this._queue = [];
    this._next = 0;
    this._ended = false;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next() {
    // Chunks already received are not handed out after an abort: the call is over.
    if (this._signal?.aborted && !this._ended) {
      this._handle.cancel();
      this._end();
      throw new BYOKError('STREAM_ABORTED', 'the call was aborted');
    }
    while (this._next >= this._queue.length) {
      if (this._ended) return { value: undefined, done: true };
      let batch;
      try {
        batch = await this._handle.pull();
      } catch (e) {
        this._end();
        throw e;
      }
      if (batch === null) {
        this._end();
        return { value: undefined, done: true };
      }
      this._queue = batch;
      this._next = 0;
    }
    return { value: this._queue[this._next++], done: false };
  }

  /** Called by `break` in a for-await loop: the connection is closed at once. */
  async return(value) {
    if (!this._ended) {
      this._handle.cancel();
      this._end();
    }
    return { value, done: true };
  }

  _end() {
    this._ended = true;
    this._queue = [];
  }
}

/** Called from Rust; not part of the public API. */
export function makeChunkStream(handle, signal) {
  return new ChunkStream(handle, signal);
}
