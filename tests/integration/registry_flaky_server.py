#!/usr/bin/python3
"""A read-only registry that fails on purpose, serving the images of an OCI layout.

Usage: registry_flaky_server.py PORT LAYOUT_DIR LOG [--no-range]

Serves GET/HEAD /v2/, /v2/NAME/manifests/TAG|DIGEST (TAG: the index.json entry whose
org.opencontainers.image.ref.name is NAME's last component:TAG, as strata's store names it) and /v2/NAME/blobs/DIGEST from LAYOUT_DIR, with
faults a client must survive:
  - the first manifest request answers 503, the second 429 with Retry-After: 1;
  - the first GET of every blob sends half of it and closes the connection;
  - later GETs honour "Range: bytes=N-" with 206, unless --no-range (then 200, all of it).
Each request appends "METHOD PATH RANGE STATUS" to LOG.
"""
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, layout, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
honour_range = "--no-range" not in sys.argv[4:]
manifest_requests = 0
blob_gets = {}


def blob_path(digest):
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return None
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    return path if os.path.exists(path) else None


def tagged(name, tag):
    """The entry strata's store names NAME's last component:TAG ("busybox:latest")."""
    wanted = name.split("/")[-1] + ":" + tag
    for entry in json.load(open(os.path.join(layout, "index.json")))["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == wanted:
            return entry
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def note(self, status):
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path} {self.headers.get('Range', '-')} {status}\n")

    def simple(self, status, headers=None, body=b""):
        self.note(status)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def manifest(self, name, reference):
        global manifest_requests
        manifest_requests += 1
        if manifest_requests == 1:
            return self.simple(503)
        if manifest_requests == 2:
            return self.simple(429, {"Retry-After": "1"})
        if reference.startswith("sha256:"):
            path, media = blob_path(reference), None
        else:
            entry = tagged(name, reference)
            path, media = (blob_path(entry["digest"]), entry["mediaType"]) if entry else (None, None)
        if not path:
            return self.simple(404)
        data = open(path, "rb").read()
        media = media or json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
        self.simple(200, {"Content-Type": media}, data)

    def blob(self, digest):
        path = blob_path(digest)
        if not path:
            return self.simple(404)
        data = open(path, "rb").read()
        if self.command == "HEAD":
            return self.simple(200, {"Content-Length": str(len(data))})
        count = blob_gets[digest] = blob_gets.get(digest, 0) + 1
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if count == 1 and len(data) > 1:
            self.note("200-cut")
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if match and honour_range:
            start = int(match.group(1))
            self.note(206)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.simple(200, {}, data)

    def route(self):
        if self.path == "/v2/":
            return self.simple(200, {}, b"{}")
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", self.path)
        if not m:
            return self.simple(404)
        if m.group(2) == "manifests":
            return self.manifest(m.group(1), m.group(3))
        return self.blob(m.group(3))

    do_GET = route
    do_HEAD = route


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
