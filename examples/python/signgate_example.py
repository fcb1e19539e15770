#!/usr/bin/env python3
"""signgate from Python with the standard library only: sign, upload,
download, and a chunked upload through /v1/uploads (S3 multipart, Azure
blocks, GCS resumable). docs/clients.md explains each step.

    SIGNGATE_URL=http://127.0.0.1:8080 SIGNGATE_KEY=... \\
        python3 signgate_example.py TEAM OBJECT FILE
"""
import json
import os
import re
import sys
import urllib.error
import urllib.request

SIGNGATE = os.environ["SIGNGATE_URL"].rstrip("/")
KEY = os.environ["SIGNGATE_KEY"]


class Problem(Exception):
    """signgate's application/problem+json answer."""

    def __init__(self, status, doc):
        self.status, self.code = status, doc.get("code")
        self.decision_id = doc.get("decision_id")
        super().__init__(f"{status} {self.code}: {doc.get('detail', '')} {doc.get('reasons', '')}")


def api(path, body):
    """POST body to signgate; a refusal raises Problem."""
    req = urllib.request.Request(
        SIGNGATE + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        raise Problem(e.code, json.load(e)) from None


def send(method, url, headers=None, data=None):
    """One request to the storage server: (status, headers, body). 308 is
    an answer (GCS: "resume incomplete"), not a redirect to follow."""
    headers = dict(headers or {})
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        # urllib would send application/x-www-form-urlencoded, and GCS
        # would store the object with that type.
        headers["Content-Type"] = "application/octet-stream"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is None and method in ("PUT", "POST"):
        req.data = b""
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 308:
            return e.code, e.headers, e.read()
        raise RuntimeError(f"{method} {e.code}: {e.read()[:300]!r}") from None


def upload(team, obj, data):
    """One signed PUT, with exactly the signed headers."""
    s = api("/v1/sign", {"team": team, "operation": "write", "object": obj})
    send(s["method"], s["url"], s["headers"], data)
    return s


def download(team, obj):
    s = api("/v1/sign", {"team": team, "operation": "read", "object": obj})
    return send(s["method"], s["url"], s["headers"])[2]


def chunked_upload(team, obj, data, part_size=5 << 20):
    """The /v1/uploads plan of any provider, one part at a time."""
    plan = api("/v1/uploads", {"team": team, "object": obj, "size": len(data), "part_size": part_size})
    flow = plan["flow"]
    if flow == "gcs_resumable":
        start = plan["start"]
        # The start opens a session; its URI is in Location.
        _, headers, _ = send(start["method"], start["url"], start["headers"])
        session = headers["Location"]
        for p in plan["parts"]:
            chunk = data[p["offset"]:p["offset"] + p["length"]]
            status, _, _ = send("PUT", session, p["headers"], chunk)
            # Every chunk but the last answers 308; the last 200 or 201.
            assert status == (200 if p is plan["parts"][-1] else 308) or status == 201, status
        return plan
    etags = {}
    for p in plan["parts"]:
        chunk = data[p["offset"]:p["offset"] + p["length"]]
        _, headers, _ = send(p["method"], p["url"], p["headers"], chunk)
        etags[p["part_number"]] = headers.get("ETag", "")
    complete = plan["complete"]
    if flow == "s3_multipart":
        body = re.sub(r"\{etag:(\d+)\}", lambda m: etags[int(m.group(1))], complete["body_template"])
    else:  # azure_blocks: the block list is given
        body = complete["body"]
    _, _, answer = send(complete["method"], complete["url"], complete["headers"], body.encode())
    # S3 may answer 200 and still fail: the error is in the body.
    if b"<Error>" in answer:
        raise RuntimeError("complete failed: " + answer.decode()[:300])
    return plan


def main():
    team, obj, path = sys.argv[1:4]
    with open(path, "rb") as f:
        data = f.read()
    upload(team, obj + ".put", data[: 1 << 20])
    assert download(team, obj + ".put") == data[: 1 << 20], "PUT read back other bytes"
    plan = chunked_upload(team, obj, data)
    assert download(team, obj) == data, "chunked upload read back other bytes"
    denied = None
    try:
        api("/v1/sign", {"team": "no-such-team", "operation": "read", "object": obj})
    except Problem as p:
        denied = p  # code is stable; decision_id finds the audit record
    assert denied and denied.code == "denied" and denied.decision_id, "a team the key is not in was not denied"
    print(f"ok: {plan['flow']} {len(plan['parts'])} parts, {len(data)} bytes read back; denied with decision {denied.decision_id}")


if __name__ == "__main__":
    main()
