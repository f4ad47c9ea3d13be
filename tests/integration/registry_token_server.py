#!/usr/bin/python3
"""A token service for distribution's `auth: token:` (the Bearer flow), for the tests.

Usage: registry_token_server.py PORT KEY_PEM CERT_PEM ISSUER SERVICE USER PASSWORD LOG [--expire-first]

GET /token?service=..&scope=repository:NAME:ACTIONS... with Basic USER:PASSWORD answers
{"token": JWT, "expires_in": 300}: an RS256 JWT whose x5c header carries CERT (the
registry's rootcertbundle), granting what was asked. Wrong or missing credentials: 401.
--expire-first: the first token for each scope is already expired (the registry refuses
it, so the client must fetch another). Each issued token appends "SCOPE expired|valid" to LOG.
"""
import base64
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

port, key_pem, cert_pem, issuer, service, user, password, log = sys.argv[1:9]
expire_first = "--expire-first" in sys.argv[9:]
key = serialization.load_pem_private_key(open(key_pem, "rb").read(), password=None)
cert = x509.load_pem_x509_certificate(open(cert_pem, "rb").read())
x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
seen_scopes = set()


def access(scopes):
    granted = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) >= 3 and parts[0] == "repository":
            granted.append({"type": "repository", "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    return granted


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if url.path != "/token" or self.headers.get("Authorization") != expected:
            return self.answer(401, {"details": "wrong username or password"})
        scopes = query.get("scope", [])
        scope_key = " ".join(scopes)
        now = int(time.time())
        expired = expire_first and scopes and scope_key not in seen_scopes
        seen_scopes.add(scope_key)
        # distribution allows 60 s of clock skew: an expired token ends well before that.
        exp = now - 600 if expired else now + 300
        claims = {"iss": issuer, "sub": user, "aud": service, "exp": exp, "nbf": now - 900, "iat": now - 900,
                  "jti": str(uuid.uuid4()), "access": access(scopes)}
        token = jwt.encode(claims, key, algorithm="RS256", headers={"x5c": x5c})
        with open(log, "a") as f:
            f.write(f"{scope_key} {'expired' if expired else 'valid'}\n")
        self.answer(200, {"token": token, "expires_in": 300, "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
