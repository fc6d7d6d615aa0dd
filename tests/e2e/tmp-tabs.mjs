import { start, newPage, signUpUI } from './harness.mjs';
const env = await start();
const a = await newPage(env);
await signUpUI(a.page);
const refreshes = [];
a.context.on('response', (r) => { if (r.url().endsWith('/api/auth/refresh')) refreshes.push(r.status()); });
const page2 = await a.context.newPage();
await page2.goto('/chat');
await page2.locator('#composer-input').waitFor();
for (let i = 0; i < 25; i++) {
  refreshes.length = 0;
  await Promise.all([a.page.reload(), page2.reload()]);
  await Promise.all([a.page.locator('#composer-input').waitFor(), page2.locator('#composer-input').waitFor()]);
  console.log(i, JSON.stringify(refreshes));
}
await env.stop();
