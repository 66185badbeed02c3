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
    // Notices (`wait` chunks) arrive while a pull is still pending: they are served at once
    // and the pull is kept for the next call.
    this._notices = [];
    this._pending = null;
    this._wake = null;
    handle.setNotifier((chunk) => this._notice(chunk));
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  _notice(chunk) {
    if (this._ended) return;
    this._notices.push(chunk);
    const wake = this._wake;
    this._wake = null;
    if (wake) wake();
  }

  async next() {
    // Chunks already received are not handed out after an abort: the call is over.
    if (this._signal?.aborted && !this._ended) {
      this._handle.cancel();
      this._end();
      throw new BYOKError('STREAM_ABORTED', 'the call was aborted');
    }
    for (;;) {
      if (this._notices.length) return { value: this._notices.shift(), done: false };
      if (this._next < this._queue.length) return { value: this._queue[this._next++], done: false };
      if (this._ended) return { value: undefined, done: true };
      if (!this._pending) {
        this._pending = this._handle.pull().then(
          (batch) => ({ batch }),
          (error) => ({ error }),
        );
      }
      const woken = new Promise((resolve) => { this._wake = resolve; });
      const got = await Promise.race([this._pending, woken.then(() => null)]);
      this._wake = null;
      if (got === null) continue;
      this._pending = null;
      if (got.error !== undefined) {
        this._end();
        throw got.error;
      }
      if (got.batch === null) {
        this._end();
        return { value: undefined, done: true };
      }
      this._queue = got.batch;
      this._next = 0;
    }
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
    this._notices = [];
  }
}

/** Called from Rust; not part of the public API. */
export function makeChunkStream(handle, signal) {
  return new ChunkStream(handle, signal);
}
