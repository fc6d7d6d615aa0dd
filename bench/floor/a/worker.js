// Floor A: the runtime's own cost of relaying a stream. The request goes to the upstream as it
// came, the upstream's response comes back as it is. (GET /health is for the bench's start-up.)
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    return fetch(env.UPSTREAM + url.pathname + url.search, request);
  },
};
