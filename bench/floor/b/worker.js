// Floor B: a relay that reads every frame. The request goes to the upstream as it came; each
// SSE frame of the answer is parsed (JSON.parse) and written again (JSON.stringify) before it
// is sent on: the least work a gateway that looks at what it relays can do.
// (GET /health is for the bench's start-up.)
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const upstream = await fetch(env.UPSTREAM + url.pathname + url.search, request);
    if (!upstream.ok || !upstream.body) return upstream;
    return new Response(upstream.body.pipeThrough(reframe()), {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  },
};

/// Splits the byte stream into SSE frames and sends each one on re-serialised.
function reframe() {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        controller.enqueue(encoder.encode(rewrite(frame)));
      }
    },
    flush(controller) {
      if (buffer) controller.enqueue(encoder.encode(buffer));
    },
  });
}

function rewrite(frame) {
  if (!frame.startsWith("data: ") || frame === "data: [DONE]") return frame + "\n\n";
  return "data: " + JSON.stringify(JSON.parse(frame.slice(6))) + "\n\n";
}
