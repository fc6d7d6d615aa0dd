// Floor E: floor B's work (each SSE frame parsed with JSON.parse and written again with
// JSON.stringify), done the way chatgate relays since `src/sse.rs`'s pump: a JavaScript loop
// reads the upstream body and writes each frame into the runtime's own byte stream
// (IdentityTransformStream), where floor B pipes through a JavaScript TransformStream. The
// difference between B and E is the runtime's, not the work's. (GET /health is for the
// bench's start-up.)
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const upstream = await fetch(env.UPSTREAM + url.pathname + url.search, request);
    if (!upstream.ok || !upstream.body) return upstream;
    const { readable, writable } = new IdentityTransformStream();
    ctx.waitUntil(relay(upstream.body, writable.getWriter()));
    return new Response(readable, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  },
};

async function relay(body, writer) {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const ignore = () => {};
  const reader = body.getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      writer.write(encoder.encode(rewrite(frame))).catch(ignore);
    }
  }
  if (buffer) writer.write(encoder.encode(buffer)).catch(ignore);
  writer.close().catch(ignore);
}

function rewrite(frame) {
  if (!frame.startsWith("data: ") || frame === "data: [DONE]") return frame + "\n\n";
  return "data: " + JSON.stringify(JSON.parse(frame.slice(6))) + "\n\n";
}
