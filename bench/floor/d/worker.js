// Floor D: the runtime's own cost of storing an upload in R2. The request's body goes to
// FILES.put as it came (streamed: it has a content-length), under a fresh key. (GET /health is
// for the bench's start-up.)
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (request.method !== "POST") return new Response("POST /put", { status: 405 });
    const key = `floor/${crypto.randomUUID()}`;
    const object = await env.FILES.put(key, request.body);
    return Response.json({ id: key, size: object.size }, { status: 201 });
  },
};
