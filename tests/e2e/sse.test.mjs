// Unit tests of the client's SSE parser (web/js/sse.js), which reads the
// reply stream from fetch() because EventSource cannot send a Bearer token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSSEParser, readSSE } from '../../web/js/sse.js';

function parseAll(chunks) {
  const out = [];
  const p = createSSEParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

test('events, ids, multi-line data and comments', () => {
  const evs = parseAll([': keep-alive\n', 'id: 1\nevent: delta\ndata: {"text":"a"}\n\n', 'id: 2\nevent: delta\ndata: line1\ndata: line2\n\n']);
  assert.deepEqual(evs, [
    { event: 'delta', data: '{"text":"a"}', id: '1' },
    { event: 'delta', data: 'line1\nline2', id: '2' },
  ]);
});

test('chunks split anywhere, CRLF and CR line ends', () => {
  const text = 'id: 7\r\nevent: message.completed\r\ndata: {"x":1}\r\n\r\nevent: delta\rdata: b\r\r';
  for (let i = 1; i < text.length; i++) {
    const evs = parseAll([text.slice(0, i), text.slice(i)]);
    assert.deepEqual(evs, [
      { event: 'message.completed', data: '{"x":1}', id: '7' },
      { event: 'delta', data: 'b', id: '7' },
    ], `split at ${i}`);
  }
});

test('default event name, no space after colon, unterminated event dropped', () => {
  const evs = parseAll(['data:x\n\n', 'data: y\n']);
  assert.deepEqual(evs, [{ event: 'message', data: 'x', id: '' }]);
});

test('readSSE reads a streamed body with multi-byte characters split across chunks', async () => {
  const bytes = new TextEncoder().encode('id: 1\nevent: delta\ndata: {"text":"héllo ✓"}\n\n');
  const body = new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.slice(i, i + 3));
      c.close();
    },
  });
  const got = [];
  for await (const e of readSSE(new Response(body))) got.push(e);
  assert.deepEqual(got, [{ event: 'delta', data: '{"text":"héllo ✓"}', id: '1' }]);
});
