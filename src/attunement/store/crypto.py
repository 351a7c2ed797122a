"""The identifier key: AES-256-GCM encryption of identifiers and keyed-hash pseudonyms.

The key lives in a file outside the database (mode 0600). Encryption binds each ciphertext
to its row (associated data), so a ciphertext copied onto another person's row fails to decrypt.
Pseudonyms are HMAC-SHA-256 under a per-study key derived from the file's key (HKDF), so the
same person gets unrelated pseudonyms in different studies and nobody without the key file can
reverse or recompute them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from attunement.store.errors import KeyFileError

_HEADER = "attunement-identifier-key-v1"


def create_key_file(path: Path) -> None:
    """Write a fresh 256-bit key to ``path`` with mode 0600 (refuses to overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{_HEADER}\n{key}\n")
    os.chmod(path, 0o600)


def load_key_file(path: Path) -> bytes:
    """Read the key, refusing a file that group or others could read or write."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"identifier key file {path} does not exist") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"identifier key file {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})"
        )
    lines = path.read_text().split()
    if len(lines) != 2 or lines[0] != _HEADER:
        raise KeyFileError(f"identifier key file {path} is not an attunement key file")
    key = base64.b64decode(lines[1])
    if len(key) != 32:
        raise KeyFileError(f"identifier key file {path} does not hold a 256-bit key")
    return key


def _derive(key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(key)


class KeyRing:
    """Encryption and pseudonym keys derived from the master key in the key file."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(_derive(key, "identifiers"))
        self._pseudo = _derive(key, "pseudonyms")
        self.key_id = hashlib.sha256(_derive(key, "key-id")).hexdigest()[:16]
        # the audit chain and its checkpoints: keys of their own, so neither can stand in
        # for the other or for the identifier key
        self.audit_chain = _derive(key, "audit-chain")
        self.audit_checkpoint = _derive(key, "audit-checkpoint")
        self._files = AESGCM(_derive(key, "files"))
        self._blind = _derive(key, "blind-index")

    def encrypt(self, data: dict[str, Any], aad: str) -> bytes:
        nonce = secrets.token_bytes(12)
        plain = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return nonce + self._aead.encrypt(nonce, plain, aad.encode())

    def decrypt(self, blob: bytes, aad: str) -> dict[str, Any]:
        return json.loads(self._aead.decrypt(blob[:12], blob[12:], aad.encode()))

    def encrypt_bytes(self, data: bytes, aad: str) -> bytes:
        """AES-256-GCM of raw bytes (stored files), bound to ``aad``; nonce prepended."""
        nonce = secrets.token_bytes(12)
        return nonce + self._files.encrypt(nonce, bytes(data), aad.encode())

    def decrypt_bytes(self, blob: bytes, aad: str) -> bytes:
        return self._files.decrypt(blob[:12], blob[12:], aad.encode())

    def blind_index(self, field: str, normalised: str) -> str:
        """The keyed hash (HMAC-SHA-256, own subkey) of one normalised identifier value, for
        exact-match search without decrypting: equal values give equal digests, and nobody
        without the key file can compute or reverse one."""
        return hmac.new(self._blind, f"{field}:{normalised}".encode(), hashlib.sha256).hexdigest()

    def pseudonym(self, study: int | str, kind: str, record_id: int) -> str:
        """A stable keyed-hash id of one record within one study's pseudonymisation domain."""
        study_key = hmac.new(self._pseudo, f"study:{study}".encode(), hashlib.sha256).digest()
        digest = hmac.new(study_key, f"{kind}:{record_id}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[0].upper()}{digest[:16]}"

    def day_shift(self, study: int | str, record_id: int) -> int:
        """A secret per-family date shift of 1-364 days (keeps intervals between dates)."""
        study_key = hmac.new(self._pseudo, f"shift:{study}".encode(), hashlib.sha256).digest()
        digest = hmac.new(study_key, str(record_id).encode(), hashlib.sha256).digest()
        return 1 + int.from_bytes(digest[:4], "big") % 364


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy secret token (tokens are random, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
