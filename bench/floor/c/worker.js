// Floor C: the chat route's shape. The Worker hands POST /c/<name> to the SQLite Durable Object
// named <name>, which calls the upstream, stores the user's message, relays the reply as
// `event: delta` frames (each upstream frame parsed, its text re-serialised), saves the text so
// far at most once a second and once at the end, and closes with `event: message.completed`.
// (GET /health is for the bench's start-up.)
import { DurableObject } from "cloudflare:workers";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const name = url.pathname.split("/")[2];
    if (request.method !== "POST" || !url.pathname.startsWith("/c/") || !name) {
      return new Response("not found", { status: 404 });
    }
    return env.RELAY.get(env.RELAY.idFromName(name)).fetch(request);
  },
};

export class Relay extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, text TEXT NOT NULL)",
    );
  }

  async fetch(request) {
    const { content, model } = await request.json();
    // The upstream request goes out before the rows are written, as chatgate's does: a write
    // holds the object's later outgoing messages until it is durable (the output gate).
    const upstreamPromise = fetch(this.env.UPSTREAM + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + this.env.UPSTREAM_KEY },
      body: JSON.stringify({
        model,
        messages: [{ role: "user", content }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const sql = this.ctx.storage.sql;
    sql.exec("INSERT INTO messages (role, text) VALUES ('user', ?)", content);
    const id = sql.exec("INSERT INTO messages (role, text) VALUES ('assistant', '') RETURNING id").one().id;
    const upstream = await upstreamPromise;
    if (!upstream.ok || !upstream.body) {
      return new Response(await upstream.text(), { status: 502 });
    }
    const save = (text) => sql.exec("UPDATE messages SET text = ? WHERE id = ?", text, id);
    return new Response(upstream.body.pipeThrough(relay(save)), {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  }
}

/// OpenAI chunks in, `event: delta` frames out; the text saved once a second and at the end.
function relay(save) {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  let text = "";
  let saved = Date.now();
  return new TransformStream({
    transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!frame.startsWith("data: ") || frame === "data: [DONE]") continue;
        const delta = JSON.parse(frame.slice(6)).choices?.[0]?.delta?.content;
        if (!delta) continue;
        text += delta;
        controller.enqueue(encoder.encode("event: delta\ndata: " + JSON.stringify({ text: delta }) + "\n\n"));
        if (Date.now() - saved >= 1000) {
          save(text);
          saved = Date.now();
        }
      }
    },
    flush(controller) {
      save(text);
      controller.enqueue(encoder.encode("event: message.completed\ndata: " + JSON.stringify({ length: text.length }) + "\n\n"));
    },
  });
}
