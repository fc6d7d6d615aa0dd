// Small shared state: the signed-in user (GET /api/me) and the chosen org.
import { api } from './api.js';

export const state = {
  me: null,
  models: new Map(), // org id -> Promise<string[]>
};

export async function loadMe() {
  state.me = await api.get('/api/me');
  // The top bar and the verification banner follow the account (main.js listens).
  window.dispatchEvent(new CustomEvent('chatgate:me'));
  return state.me;
}

let policyPromise = null;

/**
 * How this server lets people in (GET /api/auth/policy): `registration`
 * (open, invite-only, closed), `registration_domains`, `require_verified_email`,
 * `dev_mailbox`. Fetched once; a failure is forgotten so the next call retries.
 */
export function loadPolicy() {
  if (!policyPromise) {
    policyPromise = api.get('/api/auth/policy', { auth: false }).catch((e) => {
      policyPromise = null;
      throw e;
    });
  }
  return policyPromise;
}

export function orgs() {
  return (state.me && state.me.orgs) || [];
}

export function currentOrgId() {
  const list = orgs();
  let saved = null;
  try { saved = localStorage.getItem('chatgate.org'); } catch { /* storage blocked (a third-party iframe) */ }
  if (saved && list.some((o) => o.id === saved)) return saved;
  return list.length ? list[0].id : null;
}

export function setCurrentOrg(id) {
  try { localStorage.setItem('chatgate.org', id); } catch { /* storage blocked */ }
}

export function orgById(id) {
  return orgs().find((o) => o.id === id) || null;
}

export function isAdmin(role) {
  return role === 'owner' || role === 'admin';
}

/**
 * The org's enabled models, from GET /v1/models with the access token
 * (`demo/echo`, which needs no provider key, when that list is empty).
 */
export function modelsFor(orgId) {
  const key = orgId || '';
  if (!state.models.has(key)) {
    const p = api.get('/v1/models', { headers: orgId ? { 'openai-organization': orgId } : {} })
      .then((res) => {
        const ids = ((res && res.data) || []).map((m) => m.id).filter((x) => typeof x === 'string');
        if (!ids.length) ids.push('demo/echo');
        return ids;
      })
      .catch((e) => {
        state.models.delete(key);
        throw e;
      });
    state.models.set(key, p);
  }
  return state.models.get(key);
}

export function forgetModels() {
  state.models.clear();
}
