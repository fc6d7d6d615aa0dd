// A small Server-Sent Events parser over a fetch() body (EventSource cannot
// send an Authorization header). Follows the WHATWG event-stream rules: lines
// end in \n, \r\n or \r; "field: value" (one optional space stripped); data
// lines are joined with \n; a blank line dispatches; ':' lines are comments;
// the last event id persists between events.

export function createSSEParser(onEvent) {
  let buf = '';
  let data = [];
  let event = '';
  let lastId = '';
  let sawData = false;
  let skipLF = false;

  function dispatch() {
    if (sawData) {
      onEvent({ event: event || 'message', data: data.join('\n'), id: lastId });
    }
    data = [];
    event = '';
    sawData = false;
  }

  function line(l) {
    if (l === '') return dispatch();
    if (l.charCodeAt(0) === 58 /* : */) return undefined;
    const i = l.indexOf(':');
    const field = i === -1 ? l : l.slice(0, i);
    let value = i === -1 ? '' : l.slice(i + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event': event = value; break;
      case 'data': data.push(value); sawData = true; break;
      case 'id': if (!value.includes('\0')) lastId = value; break;
      default: break; // 'retry' and unknown fields are ignored here
    }
    return undefined;
  }

  return {
    push(chunk) {
      buf += chunk;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (skipLF) {
          skipLF = false;
          if (c === 10) { start = i + 1; continue; }
        }
        if (c === 10 || c === 13) {
          line(buf.slice(start, i));
          start = i + 1;
          if (c === 13) skipLF = true;
        }
      }
      buf = buf.slice(start);
    },
    /** End of stream: an unterminated event is discarded, as the spec says. */
    end() { buf = ''; data = []; sawData = false; },
    get lastEventId() { return lastId; },
  };
}

/**
 * Reads an SSE response body, yielding {event, data, id} objects.
 * Aborting the fetch's signal ends the iteration with an AbortError.
 */
export async function* readSSE(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const queue = [];
  const parser = createSSEParser((e) => queue.push(e));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        parser.push(decoder.decode());
        parser.end();
        while (queue.length) yield queue.shift();
        return;
      }
      parser.push(decoder.decode(value, { stream: true }));
      while (queue.length) yield queue.shift();
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
