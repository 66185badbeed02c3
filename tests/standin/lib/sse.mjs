// Server-sent events: framing, hostile chunking and a writer that applies a key's behaviour.
//
// A provider builds its whole stream as a list of events `{ data, event? }` (data is a string,
// usually compact JSON) and hands it to writeSse() together with the key's behaviour. The writer
// frames the events, cuts the bytes into writes according to `behaviour.chunking`, sends each
// write separately (Nagle off, a pause between writes so the client really gets separate reads),
// applies truncateAfter / errorAfter / stallAfter, and notices a client that goes away.

import { sleep, nextTick } from './http.mjs';

/**
 * Frames one event: optional `event:` line, one `data:` line per line of data, blank line.
 * `raw: true` sends `data` as it is, outside any event (Gemini's bare JSON error mid-stream).
 */
export function frameEvent({ data, event = null, raw = false }, lineEnding = 'lf') {
  if (raw) return Buffer.from(String(data), 'utf8');
  const nl = lineEnding === 'crlf' ? '\r\n' : '\n';
  let text = '';
  if (event !== null && event !== undefined) text += `event: ${event}${nl}`;
  for (const line of String(data).split('\n')) text += `data: ${line}${nl}`;
  text += nl;
  return Buffer.from(text, 'utf8');
}

/** True when `byte` starts a multi-byte UTF-8 sequence. */
function isLeadByte(byte) {
  return byte >= 0xc0 && byte <= 0xf7;
}

function utf8Length(lead) {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  return 2;
}

/**
 * Offsets (inside one framed event) where the awkward writer cuts, for event number `i`:
 * - i % 4 === 0: inside the field name of the first line (`da|ta:` or `ev|ent:`),
 * - i % 4 === 3: in the middle of the event,
 * - i % 4 === 0 or 3: inside every multi-byte UTF-8 character and between every `\r` and `\n`,
 * - i % 4 === 1: no cut at its end, and events 1 and 2 (mod 4) go out whole in one write, so
 *   several events arrive in a single read.
 * Every other event end is a cut.
 */
function awkwardCutsOfEvent(buf, i) {
  const cuts = [];
  const phase = i % 4;
  if (phase === 0 || phase === 3) {
    if (phase === 0 && buf.length > 4) cuts.push(2);
    if (phase === 3 && buf.length > 8) {
      // The middle of the event, moved off a CR/LF pair or a UTF-8 sequence (those get their own cuts).
      let mid = Math.floor(buf.length / 2);
      while (mid < buf.length - 1 && (buf[mid] & 0xc0) === 0x80) mid++;
      cuts.push(mid);
    }
    for (let k = 0; k < buf.length; k++) {
      const b = buf[k];
      if (isLeadByte(b)) {
        // Cut after the first byte; for 4-byte characters (emoji) after the second.
        cuts.push(k + (utf8Length(b) === 4 ? 2 : 1));
      } else if (b === 0x0d && buf[k + 1] === 0x0a) {
        cuts.push(k + 1);
      }
    }
  }
  return cuts;
}

/**
 * Cuts framed events into the buffers that are written one by one.
 * `chunking`: 'whole' (one write per event), 'bytewise' (one byte per write) or 'awkward'.
 * Returns `{ writes: Buffer[], eventEnds: number[] }` where eventEnds[i] is the byte offset
 * (in the concatenated stream) just after event i.
 */
export function planWrites(eventBuffers, chunking = 'awkward') {
  const eventEnds = [];
  let total = 0;
  for (const b of eventBuffers) eventEnds.push((total += b.length));
  const all = Buffer.concat(eventBuffers);
  if (chunking === 'whole') return { writes: eventBuffers.map((b) => Buffer.from(b)), eventEnds };
  if (chunking === 'bytewise') {
    const writes = [];
    for (let k = 0; k < all.length; k++) writes.push(all.subarray(k, k + 1));
    return { writes, eventEnds };
  }
  const cuts = new Set();
  let start = 0;
  eventBuffers.forEach((buf, i) => {
    for (const c of awkwardCutsOfEvent(buf, i)) if (c > 0 && c < buf.length) cuts.add(start + c);
    if (i % 4 !== 1) cuts.add(start + buf.length);
    start += buf.length;
  });
  cuts.add(all.length);
  const sorted = [...cuts].filter((c) => c > 0 && c <= all.length).sort((a, b) => a - b);
  const writes = [];
  let prev = 0;
  for (const c of sorted) {
    if (c > prev) writes.push(all.subarray(prev, c));
    prev = c;
  }
  return { writes, eventEnds };
}

/**
 * Applies truncateAfter / errorAfter / stallAfter to the list of events.
 * Returns `{ events, ending }` with ending 'complete' | 'truncated' | 'error' | 'stall'.
 */
export function shapeStream(events, behaviour, errorEvent) {
  const { truncateAfter, errorAfter, stallAfter } = behaviour;
  const candidates = [];
  if (truncateAfter !== null && truncateAfter < events.length) candidates.push(['truncated', truncateAfter]);
  if (errorAfter !== null && errorAfter < events.length && errorEvent) candidates.push(['error', errorAfter]);
  if (stallAfter !== null && stallAfter < events.length) candidates.push(['stall', stallAfter]);
  if (!candidates.length) return { events, ending: 'complete' };
  candidates.sort((a, b) => a[1] - b[1]);
  const [ending, n] = candidates[0];
  const kept = events.slice(0, n);
  if (ending === 'error') kept.push(errorEvent);
  return { events: kept, ending };
}

/**
 * Writes a whole SSE stream. The status line and headers must not have been sent yet.
 *
 * opts: { status = 200, headers, events, behaviour, errorEvent, entry, frame }
 *  - events: [{ data, event? }] in order, terminator included (e.g. OpenAI's `[DONE]`)
 *  - frame: how one event becomes bytes, `(event, lineEnding) => Buffer` (default frameEvent,
 *    SSE; Ollama passes one that writes NDJSON lines)
 *  - errorEvent: the provider's mid-stream error event, used by behaviour.errorAfter
 *  - entry: the request's log entry; events, writes, aborted, truncated are kept up to date
 * Resolves when the stream is over: `{ ending, aborted }`.
 */
export async function writeSse(res, { status = 200, headers = {}, events, behaviour, errorEvent = null, entry = null, frame = frameEvent }) {
  const shaped = shapeStream(events, behaviour, errorEvent);
  const buffers = shaped.events.map((e) => frame(e, behaviour.lineEnding));
  const { writes, eventEnds } = planWrites(buffers, behaviour.chunking);

  let clientGone = false;
  let selfClosed = false;
  res.on('close', () => {
    if (!res.writableFinished && !selfClosed) {
      clientGone = true;
      if (entry) entry.aborted = true;
    }
  });
  res.on('error', () => {});
  const cancelled = () => clientGone || res.destroyed;

  res.writeHead(status, headers);
  res.socket?.setNoDelay(true);
  res.flushHeaders();
  if (entry) entry.stream = true;

  let written = 0;
  let eventsDone = 0;
  let writesDone = 0;
  const gapMs = behaviour.delayMs > 0 ? behaviour.delayMs : behaviour.chunking === 'awkward' ? 1 : 0;

  for (let w = 0; w < writes.length; w++) {
    if (cancelled()) break;
    const ok = res.write(writes[w]);
    written += writes[w].length;
    writesDone++;
    while (eventsDone < eventEnds.length && eventEnds[eventsDone] <= written) eventsDone++;
    if (entry) {
      entry.events = eventsDone;
      entry.writes = writesDone;
    }
    if (!ok && !cancelled()) {
      await new Promise((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
    if (w < writes.length - 1) {
      if (gapMs > 0) await sleep(gapMs, cancelled);
      else await nextTick();
    }
  }

  if (!cancelled() && shaped.ending === 'stall') {
    await sleep(behaviour.stallMs, cancelled);
  }

  if (cancelled()) return { ending: shaped.ending, aborted: true };

  const truncated = shaped.ending !== 'complete';
  if (entry) entry.truncated = truncated && shaped.ending !== 'error';
  if (truncated && behaviour.truncateMode === 'drop' && shaped.ending !== 'error') {
    // Close the connection without the chunked-encoding terminator: the body is cut short.
    selfClosed = true;
    await sleep(5);
    res.socket?.destroy();
    return { ending: shaped.ending, aborted: false };
  }
  await new Promise((resolve) => {
    res.once('close', resolve);
    res.end(resolve);
  });
  return { ending: shaped.ending, aborted: false };
}
