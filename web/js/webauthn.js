// Passkeys in the browser: the server's WebAuthn options (JSON, base64url) to the
// browser's calls and the credentials back to JSON, as PublicKeyCredential's
// parse…FromJSON / toJSON do (written out here for browsers without them).

function toBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 1) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const descriptors = (list) => (list || []).map((d) => ({ ...d, id: toBytes(d.id) }));

/** Whether this browser can use passkeys at all. */
export function passkeysSupported() {
  return typeof window !== 'undefined' && typeof window.PublicKeyCredential === 'function'
    && !!(navigator.credentials && navigator.credentials.create);
}

/**
 * Whether this page may use passkeys of the relying party `rpId`: browsers do
 * WebAuthn only on that domain or its subdomains, and never at an IP address.
 */
export function pageFitsRpId(rpId) {
  const host = location.hostname;
  return !!rpId && (host === rpId || host.endsWith(`.${rpId}`));
}

/** Why passkeys cannot be used here, in words (null when they can). */
export function whyNot(rpId) {
  if (!passkeysSupported()) return 'This browser does not support passkeys.';
  if (!pageFitsRpId(rpId)) {
    const port = location.port ? `:${location.port}` : '';
    return `Passkeys of this service work at ${location.protocol}//${rpId}${port}, not at ${location.host}: browsers tie a passkey to a domain name.`;
  }
  return null;
}

/** navigator.credentials.create with creation options; the credential as JSON. */
export async function createPasskey(options) {
  const publicKey = {
    ...options,
    challenge: toBytes(options.challenge),
    user: { ...options.user, id: toBytes(options.user.id) },
    excludeCredentials: descriptors(options.excludeCredentials),
  };
  const cred = await navigator.credentials.create({ publicKey });
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
    },
    authenticatorAttachment: cred.authenticatorAttachment || null,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

/** navigator.credentials.get with request options; the assertion as JSON. */
export async function getPasskey(options, { signal } = {}) {
  const publicKey = {
    ...options,
    challenge: toBytes(options.challenge),
    allowCredentials: descriptors(options.allowCredentials),
  };
  const cred = await navigator.credentials.get({ publicKey, signal });
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : null,
    },
    authenticatorAttachment: cred.authenticatorAttachment || null,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

/** A browser's refusal (the user cancelled, timed out, no passkey) in words. */
export function passkeyErrorMessage(e) {
  if (e && e.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.';
  if (e && e.name === 'InvalidStateError') return 'This passkey is registered already.';
  if (e && e.name === 'SecurityError') return 'Passkeys cannot be used on this address of the site.';
  return (e && (e.detail || e.message)) || 'The passkey did not work.';
}
