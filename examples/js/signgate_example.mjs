// signgate from JavaScript with fetch only (Node 18+ or a browser): sign,
// upload, download, and a chunked upload through /v1/uploads (S3
// multipart, Azure blocks, GCS resumable). docs/clients.md explains each
// step.
//
//   SIGNGATE_URL=http://127.0.0.1:8080 SIGNGATE_KEY=... node signgate_example.mjs TEAM OBJECT FILE
import { readFile } from "node:fs/promises";

const SIGNGATE = process.env.SIGNGATE_URL.replace(/\/$/, "");
const KEY = process.env.SIGNGATE_KEY;

// api POSTs body to signgate; a refusal throws its problem document.
export async function api(path, body) {
  const resp = await fetch(SIGNGATE + path, {
    method: "POST",
    headers: { Authorization: "Bearer " + KEY, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const doc = await resp.json();
  if (!resp.ok) throw Object.assign(new Error(`${resp.status} ${doc.code}: ${doc.detail ?? ""}`), { problem: doc });
  return doc;
}

// send is one request to the storage server. 308 is GCS's "resume
// incomplete", an answer rather than a redirect.
async function send(method, url, headers = {}, body = undefined) {
  const resp = await fetch(url, { method, headers, body, redirect: "manual" });
  if (!resp.ok && resp.status !== 308) throw new Error(`${method} ${resp.status}: ${(await resp.text()).slice(0, 300)}`);
  return resp;
}

export async function upload(team, object, bytes) {
  const s = await api("/v1/sign", { team, operation: "write", object });
  await send(s.method, s.url, s.headers, bytes);
  return s;
}

export async function download(team, object) {
  const s = await api("/v1/sign", { team, operation: "read", object });
  return new Uint8Array(await (await send(s.method, s.url, s.headers)).arrayBuffer());
}

export async function chunkedUpload(team, object, bytes, partSize = 5 << 20) {
  const plan = await api("/v1/uploads", { team, object, size: bytes.length, part_size: partSize });
  const part = (p) => bytes.subarray(p.offset, p.offset + p.length);
  if (plan.flow === "gcs_resumable") {
    const start = await send(plan.start.method, plan.start.url, plan.start.headers);
    const session = start.headers.get("Location");
    for (const [i, p] of plan.parts.entries()) {
      const resp = await send("PUT", session, p.headers, part(p));
      const last = i === plan.parts.length - 1;
      if (last ? resp.status === 308 : resp.status !== 308) throw new Error(`chunk ${p.part_number}: ${resp.status}`);
    }
    return plan;
  }
  const etags = {};
  for (const p of plan.parts) {
    const resp = await send(p.method, p.url, p.headers, part(p));
    etags[p.part_number] = resp.headers.get("ETag");
  }
  const body = plan.flow === "s3_multipart"
    ? plan.complete.body_template.replace(/\{etag:(\d+)\}/g, (_, n) => etags[n])
    : plan.complete.body; // azure_blocks: the block list is given
  const done = await send(plan.complete.method, plan.complete.url, plan.complete.headers, body);
  const answer = await done.text();
  // S3 may answer 200 and still fail: the error is in the body.
  if (answer.includes("<Error>")) throw new Error("complete failed: " + answer.slice(0, 300));
  return plan;
}

const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

async function main() {
  const [team, object, path] = process.argv.slice(2);
  const data = new Uint8Array(await readFile(path));
  const small = data.subarray(0, 1 << 20);
  await upload(team, object + ".put", small);
  if (!same(await download(team, object + ".put"), small)) throw new Error("PUT read back other bytes");
  const plan = await chunkedUpload(team, object, data);
  if (!same(await download(team, object), data)) throw new Error("chunked upload read back other bytes");
  let denied;
  try {
    await api("/v1/sign", { team: "no-such-team", operation: "read", object });
  } catch (e) {
    denied = e.problem;
  }
  if (denied?.code !== "denied" || !denied.decision_id) throw new Error("a team the key is not in was not denied");
  console.log(`ok: ${plan.flow} ${plan.parts.length} parts, ${data.length} bytes read back; denied with decision ${denied.decision_id}`);
}

await main();
