// signgate's browser example: sign, PUT the picked file to the bucket,
// sign a read, GET it back and compare. No library, only fetch.
"use strict";

const $ = (id) => document.getElementById(id);

function show(text) {
  $("status").textContent = text;
}

// sign asks signgate for one signed request; a refusal throws its problem.
async function sign(body) {
  const resp = await fetch($("signgate").value.replace(/\/$/, "") + "/v1/sign", {
    method: "POST",
    headers: { "Authorization": "Bearer " + $("key").value, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await resp.json();
  if (!resp.ok) {
    // application/problem+json: code is stable, detail names the fix.
    throw new Error(`signgate ${resp.status} ${answer.code}: ${answer.detail || ""} ${answer.decision_id ? "[decision " + answer.decision_id + "]" : ""}`);
  }
  return answer;
}

function sameBytes(a, b) {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a), y = new Uint8Array(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

async function uploadAndReadBack() {
  const file = $("file").files[0];
  if (!file) throw new Error("pick a file first");
  const team = $("team").value, object = $("object").value;

  const w = await sign({ team, operation: "write", object });
  // Send exactly the signed headers; the browser sets Content-Length.
  const put = await fetch(w.url, { method: w.method, headers: w.headers, body: file });
  if (!put.ok) throw new Error(`${w.provider} PUT ${put.status}: ${await put.text()}`);
  const etag = put.headers.get("ETag"); // readable only if the bucket's CORS exposes it

  const r = await sign({ team, operation: "read", object });
  const get = await fetch(r.url, { method: r.method, headers: r.headers });
  if (!get.ok) throw new Error(`${r.provider} GET ${get.status}: ${await get.text()}`);
  const back = await get.arrayBuffer();
  if (!sameBytes(back, await file.arrayBuffer())) throw new Error("read back other bytes");
  return `ok: ${file.size} bytes to ${w.provider} ${w.bucket}/${w.key}, etag ${etag}, read back byte-exact`;
}

$("upload").addEventListener("click", async () => {
  show("working");
  try {
    show(await uploadAndReadBack());
  } catch (e) {
    // A CORS refusal reaches script only as a TypeError without detail.
    show((e instanceof TypeError ? "blocked: " : "error: ") + e.message);
  }
});
