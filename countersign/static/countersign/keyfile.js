/* The association's key in the observer's browser: what the key tool does (countersign.keytool,
   countersign.sealing), byte for byte, on the browser's Web Cryptography API. A key file read
   (PKCS #8, plain or under a passphrase) or made; a passkey that keeps it in this browser;
   the grant of a release, a preview answer, a reseal answer and the incident report's names.
   No page wiring here (keypages.js): Node.js runs it in tests/test_keyfile_js.py.

   HPKE (RFC 9180, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) is @hpke/core's; the
   sealed file's layout (magic, header line, HPKE ciphertext) is countersign.sealing's. */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "../vendor/hpke/hpke.min.js";

const MAGIC = "COUNTERSIGN SEALED FILE 1\n";
const SUITE_NAME = "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-256-GCM";
const GRANT_REQUEST = "countersign-grant-request-1";
const GRANT = "countersign-grant-1";
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class KeyFileError extends Error {}

function fromBase64(text) {
  return Uint8Array.from(atob(text.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  let text = "";
  for (const byte of bytes) { text += String.fromCharCode(byte); }
  return btoa(text);
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fingerprint(raw) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", raw)));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

/* --- the key file: PKCS #8 PEM, plain or under a passphrase (PBES2: PBKDF2-HMAC-SHA256,
   AES-256-CBC), as the key tool writes it ------------------------------------------------- */

function der(bytes, at = 0) {
  const tag = bytes[at];
  let length = bytes[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) { length = length * 256 + bytes[start + i]; }
    start += count;
  }
  if (start + length > bytes.length) { throw new KeyFileError("damaged key file"); }
  return { tag, start, end: start + length, body: bytes.subarray(start, start + length) };
}

function children(node, bytes) {
  const out = [];
  for (let at = node.start; at < node.end;) {
    const child = der(bytes, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

const OID_PBES2 = "2a864886f70d01050d";
const OID_PBKDF2 = "2a864886f70d01050c";
const OID_HMAC_SHA256 = "2a864886f70d0209";
const OID_AES256_CBC = "60864801650304012a";
const X25519_PKCS8_PREFIX = "302e020100300506032b656e04220420";

async function decrypted(bytes, passphrase) {
  // EncryptedPrivateKeyInfo ::= SEQUENCE { SEQUENCE { OID pbes2, SEQUENCE { kdf, cipher } }, OCTET STRING }
  const [algorithm, data] = children(der(bytes), bytes);
  const [oid, parameters] = children(algorithm, bytes);
  if (hex(oid.body) !== OID_PBES2) { throw new KeyFileError("unknown key file encryption"); }
  const [kdf, cipher] = children(parameters, bytes);
  const [kdfOid, kdfParameters] = children(kdf, bytes);
  const [cipherOid, iv] = children(cipher, bytes);
  if (hex(kdfOid.body) !== OID_PBKDF2 || hex(cipherOid.body) !== OID_AES256_CBC) {
    throw new KeyFileError("unknown key file encryption");
  }
  const kdfFields = children(kdfParameters, bytes);
  const salt = kdfFields[0].body;
  const iterations = kdfFields[1].body.reduce((n, b) => n * 256 + b, 0);
  if (kdfFields[1].tag !== 0x02 || iterations < 1 || iterations > MOST_ITERATIONS) {
    throw new KeyFileError("not a key file of the key tool (its passphrase's work is out of bounds)");
  }
  const prf = kdfFields.find((field) => field.tag === 0x30);
  if (prf && hex(children(prf, bytes)[0].body) !== OID_HMAC_SHA256) {
    throw new KeyFileError("unknown key file encryption");
  }
  const secret = await crypto.subtle.importKey("raw", encoder.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey({ name: "PBKDF2", salt, iterations, hash: "SHA-256" }, secret,
    { name: "AES-CBC", length: 256 }, false, ["decrypt"]);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CBC", iv: iv.body }, key, data.body));
  } catch (error) {
    throw new KeyFileError("wrong passphrase");
  }
}

/* The association's key pair from the key file's text: {privateKey, publicKey, raw public,
   fingerprint}. */
export async function loadKey(pem, passphrase) {
  const block = /-----BEGIN (ENCRYPTED )?PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END \1?PRIVATE KEY-----/.exec(pem);
  if (!block) { throw new KeyFileError("not a key file of the key tool"); }
  let pkcs8 = fromBase64(block[2]);
  if (block[1]) {
    if (!passphrase) { throw new KeyFileError("this key file needs its passphrase"); }
    pkcs8 = await decrypted(pkcs8, passphrase);
  }
  if (pkcs8.length !== 48 || hex(pkcs8.subarray(0, 16)) !== X25519_PKCS8_PREFIX) {
    throw new KeyFileError(block[1] ? "wrong passphrase" : "not an X25519 key");
  }
  return keyFromPkcs8(pkcs8);
}

async function keyFromPkcs8(pkcs8) {
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const raw = fromBase64(jwk.x.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - jwk.x.length % 4) % 4));
  const publicKey = await crypto.subtle.importKey("raw", raw, { name: "X25519" }, true, []);
  return { privateKey, publicKey, raw, fingerprint: await fingerprint(raw) };
}

/* --- a new key pair, made here (countersign.keytool new) ---------------------------------- */

function derNode(tag, body) {
  const length = body.length < 128 ? [body.length]
    : body.length < 256 ? [0x81, body.length] : [0x82, body.length >> 8, body.length & 0xff];
  return concat(Uint8Array.of(tag, ...length), body);
}

const sequence = (...parts) => derNode(0x30, concat(...parts));
const octets = (bytes) => derNode(0x04, bytes);
const oid = (hexText) => derNode(0x06, Uint8Array.from(hexText.match(/../g), (h) => parseInt(h, 16)));
const integer = (n) => derNode(0x02, n < 128 ? Uint8Array.of(n)
  : Uint8Array.of(...[n >> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff].filter((b, i, all) => all.slice(0, i + 1).some((x) => x))));
const PBKDF2_ITERATIONS = 600000;  // OWASP's figure for PBKDF2-HMAC-SHA256
const MOST_ITERATIONS = 10000000;  // a key file asking more would hold the page for minutes

function pem(label, der) {
  const text = toBase64(der).match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${text}\n-----END ${label}-----\n`;
}

async function encrypted(pkcs8, passphrase) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(16));
  const secret = await crypto.subtle.importKey("raw", encoder.encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey({ name: "PBKDF2", salt, iterations: PBKDF2_ITERATIONS, hash: "SHA-256" },
    secret, { name: "AES-CBC", length: 256 }, false, ["encrypt"]);
  const data = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv }, key, pkcs8));
  return sequence(
    sequence(oid(OID_PBES2), sequence(
      sequence(oid(OID_PBKDF2), sequence(octets(salt), integer(PBKDF2_ITERATIONS), sequence(oid(OID_HMAC_SHA256), Uint8Array.of(5, 0)))),
      sequence(oid(OID_AES256_CBC), octets(iv)))),
    octets(data));
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes) {
  let bits = 0, value = 0, out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return bits ? out + BASE32[(value << (5 - bits)) & 31] : out;
}

/* A new key pair of the association: {keyFile (PEM, under `passphrase`), publicPem,
   recovery (the paper copy, countersign.sealing.recovery_text), fingerprint}. The private
   key exists in this page only, until the key file is saved. */
export async function newKey(passphrase) {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const secret = pkcs8.subarray(16);
  const check = new Uint8Array(await crypto.subtle.digest("SHA-256", secret)).subarray(0, 2);
  const letters = base32(concat(secret, check));
  const recovery = ["CSRK", ...letters.match(/.{1,4}/g)].join(" ");
  const keyFile = passphrase ? pem("ENCRYPTED PRIVATE KEY", await encrypted(pkcs8, passphrase))
    : pem("PRIVATE KEY", pkcs8);
  const publicPem = pem("PUBLIC KEY", concat(Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00]), raw));
  pkcs8.fill(0);
  return { keyFile, publicPem, recovery, fingerprint: await fingerprint(raw) };
}

/* --- sealed files (countersign.sealing.seal / open_sealed) ----------------------------------- */

function headerLine(header) {
  // json.dumps(..., sort_keys=True, ensure_ascii=True) + "\n", as Python writes it
  const ascii = (value) => JSON.stringify(value).replace(/[\u0080-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  return "{" + ["made", "name", "suite", "to"].map((k) => `"${k}": ${ascii(header[k])}`).join(", ") + "}\n";
}

async function openSealed(blob, key) {
  const magic = encoder.encode(MAGIC);
  if (decoder.decode(blob.subarray(0, magic.length)) !== MAGIC) { throw new KeyFileError("not a sealed file"); }
  const newline = blob.indexOf(10, magic.length);
  const header = JSON.parse(decoder.decode(blob.subarray(magic.length, newline)));
  if (header.suite !== SUITE_NAME || header.to !== key.fingerprint) {
    throw new KeyFileError("sealed to another key of the association");
  }
  const head = concat(magic, encoder.encode(headerLine(header)));
  if (hex(blob.subarray(0, head.length)) !== hex(head)) { throw new KeyFileError("the sealed file's header was changed"); }
  const rest = blob.subarray(head.length);
  const data = await suite.open({ recipientKey: { privateKey: key.privateKey, publicKey: key.publicKey },
    enc: rest.subarray(0, 32), info: head }, rest.subarray(32));
  return { header, data: new Uint8Array(data) };
}

async function seal(data, publicRaw, name, made) {
  const header = { made, name, suite: SUITE_NAME, to: await fingerprint(publicRaw) };
  const head = concat(encoder.encode(MAGIC), encoder.encode(headerLine(header)));
  const recipientPublicKey = await suite.kem.importKey("raw", publicRaw, true);
  const sealed = await suite.seal({ recipientPublicKey, info: head }, data);
  return concat(head, new Uint8Array(sealed.enc), new Uint8Array(sealed.ct));
}

/* --- a roster's data key, as a request or a report carries it sealed to the association -------- */

async function dataKeyOf(carrier, key) {
  const sealOfKey = (carrier.data_key_seals || {})[key.fingerprint];
  if (!sealOfKey) {
    throw new KeyFileError("the roster's key is not sealed to this key of the association");
  }
  const { header, data } = await openSealed(fromBase64(sealOfKey), key);
  const keyRoster = carrier.key_roster || carrier.roster;
  if (header.name !== `roster-${carrier.roster}.data-key` && header.name !== `roster-${keyRoster}.data-key`) {
    throw new KeyFileError("the request's data key is another roster's");
  }
  return data;
}

/* --- the incident report (countersign.sealing.open_incident): names and addresses by member
   number, each row opened bound to the member number on its own line ------------------------ */

export async function openIncident(sealed, key) {
  const { data } = await openSealed(sealed, key);
  const bundle = JSON.parse(decoder.decode(data));
  if (bundle.kind !== "countersign-incident-1") { throw new KeyFileError("not an incident report"); }
  const rowKey = await crypto.subtle.importKey("raw", await dataKeyOf(bundle, key), "AES-GCM", false, ["decrypt"]);
  const people = {};
  for (let i = 0; i < bundle.rows.length; i++) {
    const number = String(bundle.rows[i][0]);
    const row = bundle.sealed[i];
    if (!row) { continue; }
    try {
      const blob = fromBase64(row.ciphertext);
      const opened = await crypto.subtle.decrypt({ name: "AES-GCM", iv: blob.subarray(0, 12),
        additionalData: encoder.encode(`cs1|member|${row.sealed_in}|${row.row}|${number}`) },
      rowKey, blob.subarray(12));
      const personal = JSON.parse(decoder.decode(opened));
      people[number] = { name: String(personal.name), email: String(personal.email) };
    } catch (error) {
      people[number] = { name: "(does not open)", email: "(does not open)" };
    }
  }
  return { campaign: bundle.campaign, people };
}

/* --- a preview answer (countersign.sealing.make_preview) ------------------------------------- */

const PREVIEW_MOST_MEMBERS = 10;
const PREVIEW_MOST_DAYS = 31;

async function previewTag(key, serverPublicKey, blob) {
  const shared = await crypto.subtle.deriveBits({ name: "X25519", public: serverPublicKey }, key.privateKey, 256);
  const base = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const macKey = await crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32),
    info: encoder.encode("countersign-preview-auth-1") }, base, { name: "HMAC", hash: "SHA-256", length: 256 },
  false, ["sign"]);
  return hex(new Uint8Array(await crypto.subtle.sign("HMAC", macKey, blob)));
}

export async function makePreview(request, key, made) {
  if (request.kind !== "countersign-preview-request-1") { throw new KeyFileError("not a preview request"); }
  const dataKey = await dataKeyOf(request, key);
  if (request.members.length > PREVIEW_MOST_MEMBERS) {
    throw new KeyFileError(`a preview shows at most ${PREVIEW_MOST_MEMBERS} members`);
  }
  if (Date.parse(request.not_after) > Date.now() + PREVIEW_MOST_DAYS * 86400000) {
    throw new KeyFileError(`a preview lasts at most ${PREVIEW_MOST_DAYS} days`);
  }
  const serverRaw = fromBase64(request.to.public_key);
  if (await fingerprint(serverRaw) !== request.to.fingerprint) {
    throw new KeyFileError("the request's server key does not match its fingerprint");
  }
  const serverPublicKey = await crypto.subtle.importKey("raw", serverRaw, { name: "X25519" }, false, []);
  const rowKey = await crypto.subtle.importKey("raw", dataKey, "AES-GCM", false, ["decrypt"]);
  dataKey.fill(0);
  const seals = {}, tags = {};
  for (const member of request.members) {
    const number = String(member.member_number);
    const blob = fromBase64(member.ciphertext);
    let row;
    try {
      row = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: blob.subarray(0, 12),
        additionalData: encoder.encode(`cs1|member|${member.sealed_in}|${member.row}|${number}`) },
      rowKey, blob.subarray(12)));
    } catch (error) {
      throw new KeyFileError(`member ${number}'s row does not open as theirs`);
    }
    const sealed = await seal(row, serverRaw,
      `preview|roster=${request.roster}|member=${number}|not_after=${request.not_after}`, made);
    row.fill(0);
    seals[number] = toBase64(sealed);
    tags[number] = await previewTag(key, serverPublicKey, sealed);
  }
  return { kind: "countersign-preview-1", roster: request.roster, not_after: request.not_after,
    reason: request.reason, by: key.fingerprint, seals, tags };
}

/* --- a reseal answer (countersign.sealing.make_reseal): with an older key of the association,
   each roster sealed to it sealed to the current key too ----------------------------------- */

export async function makeReseal(request, key, made, expectedTo) {
  if (request.kind !== "countersign-reseal-request-1") { throw new KeyFileError("not a reseal request"); }
  const newRaw = fromBase64(request.to.public_key);
  if (await fingerprint(newRaw) !== request.to.fingerprint || request.to.fingerprint !== expectedTo) {
    throw new KeyFileError("the request's new key is not the association's current key");
  }
  const seals = {};
  for (const roster of request.rosters) {
    const blob = (roster.seals || {})[key.fingerprint];
    if (!blob) { continue; }  // sealed to another key of the association: reseal with that one
    const { header, data } = await openSealed(fromBase64(blob), key);
    const names = [`roster-${roster.id}.data-key`, `roster-${roster.key_roster || roster.id}.data-key`];
    if (!names.includes(header.name)) {
      throw new KeyFileError(`the data key given for roster ${roster.id} is another roster's`);
    }
    seals[String(roster.id)] = toBase64(await seal(data, newRaw, header.name, made));
    data.fill(0);
  }
  return { kind: "countersign-reseal-1", to: request.to.fingerprint, seals };
}

/* --- the grant (countersign.sealing.make_grant) ------------------------------------------- */

export async function makeGrant(request, key, made) {
  if (request.kind !== GRANT_REQUEST) { throw new KeyFileError("not a grant request"); }
  const dataKey = await dataKeyOf(request, key);
  const name = `grant|campaign=${request.campaign}|roster=${request.roster}|content=${request.content_hash}|not_after=${request.not_after}`;
  const seals = {};
  for (const worker of request.workers) {
    const raw = fromBase64(worker.public_key);
    if (await fingerprint(raw) !== worker.fingerprint) {
      throw new KeyFileError("a worker's key in the request does not match its fingerprint");
    }
    seals[worker.fingerprint] = toBase64(await seal(dataKey, raw, name, made));
  }
  dataKey.fill(0);
  return { kind: GRANT, campaign: request.campaign, roster: request.roster,
    content_hash: request.content_hash, not_after: request.not_after, seals };
}

/* --- passkeys: the key wrapped in this browser under a passkey's PRF output -------------------
   (WebAuthn's prf extension: a secret only that passkey yields, for this site). The wrapped
   key stays in this browser's storage; the server records the slot by fingerprints only. */

const SLOTS = "countersign.association-key-slots";
const PRF_INPUT = encoder.encode("countersign association key slot 1");

export function storedSlots(keyFingerprint) {
  let slots = [];
  try { slots = JSON.parse(localStorage.getItem(SLOTS) || "[]"); } catch (error) { slots = []; }
  return keyFingerprint ? slots.filter((slot) => slot.fingerprint === keyFingerprint) : slots;
}

async function prfSecret(ids) {
  const assertion = await navigator.credentials.get({ publicKey: {
    challenge: crypto.getRandomValues(new Uint8Array(32)), userVerification: "required",
    allowCredentials: ids.map((id) => ({ type: "public-key", id: fromBase64(id) })),
    extensions: { prf: { eval: { first: PRF_INPUT } } } } });
  const first = (assertion.getClientExtensionResults().prf || {}).results;
  if (!first || !first.first) { throw new KeyFileError("this passkey cannot keep a key (no PRF)"); }
  return { id: toBase64(new Uint8Array(assertion.rawId)), secret: new Uint8Array(first.first) };
}

async function wrappingKey(secret, keyFingerprint) {
  const base = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: encoder.encode(keyFingerprint),
    info: encoder.encode("countersign-passkey-slot-1") }, base, { name: "AES-GCM", length: 256 }, false,
  ["encrypt", "decrypt"]);
}

/* A new passkey that unlocks `key` (from loadKey) in this browser: {slot (SHA-256 of its
   credential id), fingerprint}. */
export async function addPasskey(key, userName, label) {
  const credential = await navigator.credentials.create({ publicKey: {
    rp: { name: "Countersign" }, challenge: crypto.getRandomValues(new Uint8Array(32)),
    user: { id: crypto.getRandomValues(new Uint8Array(16)), name: userName, displayName: label || userName },
    pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
    authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
    extensions: { prf: {} } } });
  if (!(credential.getClientExtensionResults().prf || {}).enabled) {
    throw new KeyFileError("this passkey cannot keep a key (no PRF)");
  }
  const id = toBase64(new Uint8Array(credential.rawId));
  const { secret } = await prfSecret([id]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key.privateKey));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv },
    await wrappingKey(secret, key.fingerprint), pkcs8));
  pkcs8.fill(0);
  secret.fill(0);
  const slots = storedSlots().filter((slot) => slot.id !== id);
  slots.push({ id, fingerprint: key.fingerprint, iv: toBase64(iv), wrapped: toBase64(wrapped), label });
  localStorage.setItem(SLOTS, JSON.stringify(slots));
  return { slot: await fingerprint(fromBase64(id)), fingerprint: key.fingerprint };
}

/* The association's key (`keyFingerprint`), unlocked with one of this browser's passkeys. */
export async function unlockWithPasskey(keyFingerprint) {
  const slots = storedSlots(keyFingerprint);
  if (!slots.length) { throw new KeyFileError("no passkey in this browser unlocks this key"); }
  const { id, secret } = await prfSecret(slots.map((slot) => slot.id));
  const slot = slots.find((candidate) => candidate.id === id);
  let pkcs8;
  try {
    pkcs8 = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(slot.iv) },
      await wrappingKey(secret, keyFingerprint), fromBase64(slot.wrapped)));
  } catch (error) {
    throw new KeyFileError("this passkey does not unlock the key kept here");
  }
  secret.fill(0);
  const key = await keyFromPkcs8(pkcs8);
  pkcs8.fill(0);
  if (key.fingerprint !== keyFingerprint) { throw new KeyFileError("this passkey keeps another key"); }
  return key;
}

export async function forgetPasskey(slotFingerprint) {
  const kept = [];
  for (const slot of storedSlots()) {
    if (await fingerprint(fromBase64(slot.id)) !== slotFingerprint) { kept.push(slot); }
  }
  localStorage.setItem(SLOTS, JSON.stringify(kept));
}

/* The request fetched must be for what this page shows: its campaign, roster, content and
   workers (a changed response seals nothing). */
export function expectRequest(request, shown) {
  const workers = (request.workers || []).map((worker) => worker.fingerprint).sort().join(" ");
  const listed = (shown.workers || "").split(" ").filter(Boolean).sort().join(" ");
  if (String(request.campaign) !== shown.campaign || String(request.roster) !== shown.roster
      || String(request.key_roster || request.roster) !== shown.keyRoster
      || request.content_hash !== shown.contentHash || workers !== listed) {
    throw new KeyFileError("the grant request is not for this page's campaign, roster, content and workers");
  }
}
