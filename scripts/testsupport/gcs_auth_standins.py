#!/usr/bin/env python3
"""Loopback stand-ins for Google's OAuth token endpoint and the GCE metadata server (stdlib + the openssl CLI).

token mode (``--mode token``), ``POST /token`` with a form body:
  * ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT``: the JWT's RS256 signature is verified
    with ``--public-key`` by ``openssl dgst -sha256 -verify`` (an implementation independent of the client's), and its
    claims are checked: alg RS256, iss == ``--email``, aud == this endpoint's URL, scope has devstorage, 0 < exp-iat
    <= 3600, iat within 5 minutes of now;
  * ``grant_type=refresh_token`` with ``--client-id``/``--client-secret``/``--refresh-token``.
metadata mode (``--mode metadata``): ``GET /computeMetadata/v1/instance/service-accounts/default/token`` requires
``Metadata-Flavor: Google`` and answers with that header; ``.../default/email`` gives ``--email``.

Issued tokens (``tok-<random>``, ``--expires-in`` seconds) are appended to ``--issued-file`` (the fault proxy accepts
only those). ``GET /stats`` returns counters. ``--delay`` seconds before answering a token request (so concurrent
callers overlap). Prints ``PORT <n>`` once listening on 127.0.0.1.
"""
import argparse
import base64
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"jwt": 0, "refresh": 0, "metadata": 0, "rejected": 0, "reasons": []}


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_rs256(signing_input, signature, public_key_path):
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "data")
        sig_path = os.path.join(tmp, "sig")
        with open(data_path, "wb") as f:
            f.write(signing_input)
        with open(sig_path, "wb") as f:
            f.write(signature)
        result = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", public_key_path, "-signature", sig_path, data_path],
            capture_output=True)
        return result.returncode == 0 and b"Verified OK" in result.stdout


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    args = None

    def log_message(self, *a):
        pass

    def reply(self, status, obj, headers=None):
        body = (json.dumps(obj) if not isinstance(obj, str) else obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(obj, str) else "text/plain")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reject(self, reason):
        with LOCK:
            STATS["rejected"] += 1
            STATS["reasons"].append(reason)
        self.reply(400, {"error": "invalid_grant", "error_description": reason})

    def issue(self, kind, headers=None):
        if self.args.delay:
            time.sleep(self.args.delay)
        token = "tok-" + secrets.token_hex(12)
        with LOCK:
            STATS[kind] += 1
            with open(self.args.issued_file, "a") as f:
                f.write(token + "\n")
        self.reply(200, {"access_token": token, "expires_in": self.args.expires_in, "token_type": "Bearer"}, headers)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/stats":
            with LOCK:
                return self.reply(200, STATS)
        if self.args.mode != "metadata":
            return self.reply(404, {"error": "not found"})
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.reply(403, "Missing Metadata-Flavor:Google header.", {"Metadata-Flavor": "Google"})
        base = "/computeMetadata/v1/instance/service-accounts/default/"
        if path == base + "token":
            return self.issue("metadata", {"Metadata-Flavor": "Google"})
        if path == base + "email":
            return self.reply(200, self.args.email, {"Metadata-Flavor": "Google"})
        return self.reply(404, "not found", {"Metadata-Flavor": "Google"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if self.args.mode != "token" or urllib.parse.urlsplit(self.path).path != "/token":
            return self.reply(404, {"error": "not found"})
        grant = form.get("grant_type", [""])[0]
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = form.get("assertion", [""])[0]
            parts = assertion.split(".")
            if len(parts) != 3:
                return self.reject("assertion is not a JWT")
            try:
                header = json.loads(b64url_decode(parts[0]))
                claims = json.loads(b64url_decode(parts[1]))
                signature = b64url_decode(parts[2])
            except Exception:
                return self.reject("assertion is not decodable")
            if header.get("alg") != "RS256":
                return self.reject("alg is not RS256")
            if not verify_rs256(("%s.%s" % (parts[0], parts[1])).encode(), signature, self.args.public_key):
                return self.reject("bad signature")
            own = "http://127.0.0.1:%d/token" % self.server.server_address[1]
            now = time.time()
            problems = []
            if claims.get("iss") != self.args.email:
                problems.append("iss")
            if claims.get("aud") != own:
                problems.append("aud")
            if "devstorage" not in claims.get("scope", ""):
                problems.append("scope")
            iat, exp = claims.get("iat", 0), claims.get("exp", 0)
            if not (0 < exp - iat <= 3600) or abs(iat - now) > 300:
                problems.append("iat/exp")
            if problems:
                return self.reject("bad claims: " + ",".join(problems))
            return self.issue("jwt")
        if grant == "refresh_token":
            ok = (form.get("client_id", [""])[0] == self.args.client_id
                  and form.get("client_secret", [""])[0] == self.args.client_secret
                  and form.get("refresh_token", [""])[0] == self.args.refresh_token)
            if not ok:
                return self.reject("unknown client or refresh token")
            return self.issue("refresh")
        return self.reject("unsupported grant_type")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["token", "metadata"], required=True)
    parser.add_argument("--issued-file", required=True)
    parser.add_argument("--public-key")
    parser.add_argument("--email", default="")
    parser.add_argument("--client-id", default="")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--refresh-token", default="")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--delay", type=float, default=0)
    parser.add_argument("--port", type=int, default=0)
    Handler.args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", Handler.args.port), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
