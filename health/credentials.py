"""Turn a cluster's credential *references* into request headers and a TLS context.

Why here and not in the inventory: the inventory only names files (kubeconfig, token file,
CA bundle); secrets are read when probing, so a rotated token is picked up next round and no
secret ever sits in the inventory or in our logs. Unreadable files become a clear reason on
the check result (`CredentialError`), never an exception in the loop.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kansoku.models import Credentials


class CredentialError(Exception):
    """A credential reference could not be used (missing file, bad kubeconfig)."""


@dataclass(frozen=True)
class Auth:
    """What a probe needs: headers to send and how to verify the server."""

    headers: tuple[tuple[str, str], ...]
    tls_key: tuple[str, ...]  # identifies the TLS settings (clients are pooled by this key)
    verify: bool
    ca_file: str | None = None
    ca_data: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        if not (self.ca_file or self.ca_data or self.cert_file):
            return True
        ctx = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _data_file(data_b64: str, suffix: str) -> str:
    """kubeconfig `*-data` fields as a private temp file (ssl wants paths for client certs)."""
    raw = base64.b64decode(data_b64)
    fd, name = tempfile.mkstemp(prefix="kansoku-", suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return name


def _from_kubeconfig(path: str) -> dict[str, Any]:
    text = _read(path, "kubeconfig")
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CredentialError(f"kubeconfig {path} is not valid YAML: {exc}") from None
    try:
        ctx_name = doc.get("current-context")
        contexts = {c["name"]: c["context"] for c in doc.get("contexts") or []}
        context = contexts[ctx_name] if ctx_name in contexts else next(iter(contexts.values()))
        cluster = {c["name"]: c["cluster"] for c in doc.get("clusters") or []}[context["cluster"]]
        user = {u["name"]: u.get("user") or {} for u in doc.get("users") or []}.get(context.get("user"), {})
    except (KeyError, StopIteration, TypeError, AttributeError) as exc:
        raise CredentialError(f"kubeconfig {path}: no usable context ({exc})") from None
    return {"cluster": cluster, "user": user}


def resolve_auth(creds: Credentials) -> Auth:
    """Headers and TLS settings for one cluster; raises CredentialError with a clear reason."""
    headers: list[tuple[str, str]] = []
    verify = not creds.insecure_skip_tls_verify
    ca_file, ca_data, cert_file, key_file = creds.ca_file, None, None, None
    if creds.kubeconfig:
        kc = _from_kubeconfig(creds.kubeconfig)
        cluster, user = kc["cluster"], kc["user"]
        if cluster.get("insecure-skip-tls-verify"):
            verify = False
        ca_file = ca_file or cluster.get("certificate-authority")
        if cluster.get("certificate-authority-data"):
            ca_data = base64.b64decode(cluster["certificate-authority-data"]).decode()
        if user.get("token"):
            headers.append(("Authorization", f"Bearer {user['token']}"))
        elif user.get("tokenFile"):
            headers.append(("Authorization", f"Bearer {_read(user['tokenFile'], 'token file')}"))
        if user.get("client-certificate"):
            cert_file, key_file = user["client-certificate"], user.get("client-key")
        elif user.get("client-certificate-data"):
            cert_file = _data_file(user["client-certificate-data"], ".crt")
            key_file = _data_file(user["client-key-data"], ".key") if user.get("client-key-data") else None
    if creds.token_file:
        headers.append(("Authorization", f"Bearer {_read(creds.token_file, 'token file')}"))
    key = (str(verify), ca_file or "", str(hash(ca_data)) if ca_data else "", cert_file or "")
    return Auth(tuple(headers), key, verify, ca_file, ca_data, cert_file, key_file)
