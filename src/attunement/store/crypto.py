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
    """Write a new identifier key file: a random 256-bit key, readable by its owner only.

    Parameters
    ----------
    path : Path
        Where to write it; missing folders are made. An existing file is never overwritten.

    Raises
    ------
    FileExistsError
        When ``path`` already exists.

    Examples
    --------
    >>> path = tmp_path / "new" / "identifier.key"
    >>> create_key_file(path)
    >>> oct(path.stat().st_mode & 0o777)
    '0o600'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{_HEADER}\n{key}\n")
    os.chmod(path, 0o600)


def load_key_file(path: Path) -> bytes:
    """Read the master key from an identifier key file.

    Parameters
    ----------
    path : Path
        The key file, as :func:`create_key_file` wrote it.

    Returns
    -------
    bytes
        The 32-byte key.

    Raises
    ------
    KeyFileError
        When the file is missing, not a key file, or readable or writable by group or others.

    Examples
    --------
    >>> path = tmp_path / "other.key"
    >>> create_key_file(path)
    >>> len(load_key_file(path))
    32
    >>> path.chmod(0o644)
    >>> load_key_file(path)
    Traceback (most recent call last):
    ...
    attunement.store.errors.KeyFileError: identifier key file ... has mode 0644; it must be 0600 (chmod 600 ...)
    """
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
    """The keys derived from the key file's master key, one per use.

    Identifiers, stored files, pseudonyms, the blind index and the audit chain each get their
    own key (HKDF-SHA-256), so none can stand in for another.

    Parameters
    ----------
    key : bytes
        The 32-byte master key (:func:`load_key_file`).

    Examples
    --------
    >>> keys = KeyRing(bytes(32))
    >>> blob = keys.encrypt({"name": "Mina Example"}, "identity:1")
    >>> keys.decrypt(blob, "identity:1")
    {'name': 'Mina Example'}
    >>> keys.pseudonym(1, "family", 42)
    'F...'
    >>> 1 <= keys.day_shift(1, 42) <= 364
    True
    """

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
        """Encrypt a document of identifiers (AES-256-GCM), bound to its row.

        Parameters
        ----------
        data : dict
            The identifiers (JSON-serialisable).
        aad : str
            The associated data naming the row; decryption must give the same text.

        Returns
        -------
        bytes
            A fresh 12-byte nonce followed by the ciphertext.
        """
        nonce = secrets.token_bytes(12)
        plain = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return nonce + self._aead.encrypt(nonce, plain, aad.encode())

    def decrypt(self, blob: bytes, aad: str) -> dict[str, Any]:
        """Decrypt what :meth:`encrypt` sealed.

        Parameters
        ----------
        blob : bytes
            Nonce and ciphertext.
        aad : str
            The associated data it was sealed with.

        Returns
        -------
        dict
            The identifiers.

        Raises
        ------
        cryptography.exceptions.InvalidTag
            When the key, the data or the associated data differ (a ciphertext moved to another
            row, or a different key file).
        """
        return json.loads(self._aead.decrypt(blob[:12], blob[12:], aad.encode()))

    def encrypt_bytes(self, data: bytes, aad: str) -> bytes:
        """Encrypt the bytes of a stored file (AES-256-GCM under the files' own key).

        Parameters
        ----------
        data : bytes
            The file's bytes.
        aad : str
            The associated data binding it to its row.

        Returns
        -------
        bytes
            A fresh nonce followed by the ciphertext.
        """
        nonce = secrets.token_bytes(12)
        return nonce + self._files.encrypt(nonce, bytes(data), aad.encode())

    def decrypt_bytes(self, blob: bytes, aad: str) -> bytes:
        """Decrypt a file sealed by :meth:`encrypt_bytes`.

        Parameters
        ----------
        blob : bytes
            What :meth:`encrypt_bytes` returned.
        aad : str
            The same associated data.

        Returns
        -------
        bytes
            The file's bytes.
        """
        return self._files.decrypt(blob[:12], blob[12:], aad.encode())

    def blind_index(self, field: str, normalised: str) -> str:
        """Give the keyed hash under which one identifier value is searchable.

        Equal values give equal digests, so a search finds a person without decrypting rows;
        nobody without the key file can compute or reverse a digest.

        Parameters
        ----------
        field : str
            ``name``, ``nhs_number`` or ``date_of_birth``.
        normalised : str
            The value as :func:`attunement.store.blind.lookup_values` normalises it.

        Returns
        -------
        str
            HMAC-SHA-256 in hex.
        """
        return hmac.new(self._blind, f"{field}:{normalised}".encode(), hashlib.sha256).hexdigest()

    def pseudonym(self, study: int | str, kind: str, record_id: int) -> str:
        """Give a record's pseudonym within one study.

        The same record gets unrelated pseudonyms in different studies.

        Parameters
        ----------
        study : int or str
            The study (its pseudonymisation domain).
        kind : str
            What the record is (``family``, ``caregiver``, ...); its first letter starts the
            pseudonym.
        record_id : int
            The record's database id.

        Returns
        -------
        str
            One capital letter and 16 hex digits, stable for this key file.
        """
        study_key = hmac.new(self._pseudo, f"study:{study}".encode(), hashlib.sha256).digest()
        digest = hmac.new(study_key, f"{kind}:{record_id}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[0].upper()}{digest[:16]}"

    def day_shift(self, study: int | str, record_id: int) -> int:
        """Give a family's secret date shift within one study.

        Every date of the family moves by the same number of days, so intervals and ages are kept.

        Parameters
        ----------
        study : int or str
            The study.
        record_id : int
            The family's database id.

        Returns
        -------
        int
            A number of days from 1 to 364.
        """
        study_key = hmac.new(self._pseudo, f"shift:{study}".encode(), hashlib.sha256).digest()
        digest = hmac.new(study_key, str(record_id).encode(), hashlib.sha256).digest()
        return 1 + int.from_bytes(digest[:4], "big") % 364


def token_hash(token: str) -> str:
    """Hash a random secret token (API token, link, session id) for storage.

    Parameters
    ----------
    token : str
        The token as handed to its holder (a session cookie, an API token or the secret
        part of a questionnaire link).

    Returns
    -------
    str
        Its SHA-256 in hex; only this is stored.

    Examples
    --------
    >>> token_hash("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(token.encode()).hexdigest()
