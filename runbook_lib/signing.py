"""Detached ed25519 signatures over a report's manifest (``cryptography`` does the cryptography).

``SHA256SUMS`` lists the hash of every file, so a signature over it covers the whole folder; the
*root digest* is the SHA-256 of ``SHA256SUMS``, one value to write down or paste into a ticket. A
consistent re-hash (an edited ``run.json`` with a matching ``SHA256SUMS``) cannot carry a valid
signature without the private key. Keys: PEM (PKCS#8 / SubjectPublicKeyInfo) or OpenSSH format,
without a passphrase; the private key file must be private (mode 0600 or stricter).
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .report_tree import MANIFEST, SIGNATURE

__all__ = [
    "Signature", "describe", "load_private_key", "load_public_key", "root_digest", "sign_report",
    "verify_signature",
]


@dataclass(frozen=True)
class Signature:
    """What ``SHA256SUMS.sig`` holds."""

    root_digest: str
    key_fingerprint: str
    signature: str  # base64 of the 64-byte ed25519 signature over SHA256SUMS

    def to_json(self) -> str:
        return json.dumps({"algorithm": "ed25519", "signed": MANIFEST, "root_digest": self.root_digest,
                           "key_fingerprint": self.key_fingerprint, "signature": self.signature}, indent=2) + "\n"


def root_digest(run_dir: Path) -> str:
    """``sha256:<hex>`` of the manifest."""
    return "sha256:" + hashlib.sha256((Path(run_dir) / MANIFEST).read_bytes()).hexdigest()


def _fingerprint(public_key: object) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)  # type: ignore[attr-defined]
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def load_private_key(path: str | Path):  # -> Ed25519PrivateKey
    """Read an unencrypted ed25519 private key (PEM or OpenSSH) from a file only its owner may read."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"signing key {path} cannot be read ({exc.strerror})",
                         hint="pass the path of an ed25519 private key file") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"signing key {path} may be read by group or others", hint=f"chmod 600 {path}")
    try:
        key: object  # the two loaders return different unions; only an ed25519 key passes below
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise UsageError(f"signing key {path} is not an unencrypted PEM or OpenSSH private key",
                         hint="create one with `openssl genpkey -algorithm ed25519 -out key.pem`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"signing key {path} is not an ed25519 key",
                         hint="create one with `openssl genpkey -algorithm ed25519 -out key.pem`")
    return key


def load_public_key(path: str | Path):  # -> Ed25519PublicKey
    """Read an ed25519 public key (PEM or an OpenSSH ``ssh-ed25519 ...`` line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"public key {path} cannot be read ({exc.strerror})",
                         hint="pass the path of the signer's ed25519 public key") from None
    try:
        key: object  # the two loaders return different unions; only an ed25519 key passes below
        if data.lstrip().startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise UsageError(f"public key {path} is not a PEM or OpenSSH public key",
                         hint="export it with `openssl pkey -in key.pem -pubout -out key.pub`") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"public key {path} is not an ed25519 key", hint="pass the signer's ed25519 public key")
    return key


def sign_report(run_dir: Path, key_path: str | Path) -> Signature:
    """Sign the sealed manifest of ``run_dir``; write ``SHA256SUMS.sig`` (read-only); return it."""
    key = load_private_key(key_path)
    run_dir = Path(run_dir)
    manifest = (run_dir / MANIFEST).read_bytes()
    signature = Signature(root_digest(run_dir), _fingerprint(key.public_key()),
                          base64.b64encode(key.sign(manifest)).decode("ascii"))
    path = run_dir / SIGNATURE
    path.write_text(signature.to_json(), encoding="utf-8")
    path.chmod(0o400)
    return signature


def verify_signature(run_dir: Path, pubkey_path: str | Path) -> list[str]:
    """Problems with the signature (empty when the manifest carries a valid signature by that key)."""
    from cryptography.exceptions import InvalidSignature

    key = load_public_key(pubkey_path)
    run_dir = Path(run_dir)
    sig_path = run_dir / SIGNATURE
    if not sig_path.is_file() or sig_path.is_symlink():
        return [f"{SIGNATURE}: missing (the run was not signed, or the signature was removed)"]
    try:
        data = json.loads(sig_path.read_text(encoding="utf-8"))
        raw = base64.b64decode(data["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        return [f"{SIGNATURE}: malformed"]
    try:
        manifest = (run_dir / MANIFEST).read_bytes()
    except OSError:
        return [f"{MANIFEST}: missing"]
    try:
        key.verify(raw, manifest)
    except InvalidSignature:
        problems = [f"{MANIFEST}: signature does not match (the manifest was rewritten, or another key signed it)"]
        if data.get("key_fingerprint") != _fingerprint(key):
            problems.append(f"{SIGNATURE}: made with key {data.get('key_fingerprint')}, not {_fingerprint(key)}")
        return problems
    if data.get("root_digest") != root_digest(run_dir):
        return [f"{SIGNATURE}: root digest differs from the manifest's"]
    return []


def describe(run_dir: Path) -> str | None:
    """``signed by <fingerprint>, root digest <digest>`` when a signature file is present."""
    try:
        data = json.loads((Path(run_dir) / SIGNATURE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return f"signed by key {data.get('key_fingerprint')}, root digest {data.get('root_digest')}"

