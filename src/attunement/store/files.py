"""Stored files and their metadata, encrypted at rest (AES-256-GCM, the key file's key ring).

Observation recordings can hold names (coders, ELAN participant tiers) in their bytes and in
their metadata, so both are sealed before they reach the database. Each ciphertext is bound
to its family and the file's SHA-256 (associated data): copied onto another row it does not
decrypt. Rows written before encryption at rest (``key_id`` NULL) are read as they are and
sealed by migration 0110.
"""

from __future__ import annotations

from typing import Any

from attunement.store.crypto import KeyRing


def observation_aad(family_id: int, sha256: str) -> str:
    """Give the associated data that ties a stored recording to its family and its bytes.

    Parameters
    ----------
    family_id : int
        The family's database id: the sealed recording opens only with this family's id,
        so a file copied to another family's record cannot be read there.
    sha256 : str
        The SHA-256 of the file's clear bytes.

    Returns
    -------
    str
        The text the ciphertext is bound to.

    Examples
    --------
    >>> observation_aad(7, "ab12")
    'observation:7:ab12'
    """
    return f"observation:{family_id}:{sha256}"


def seal_observation(
    keys: KeyRing, family_id: int, sha256: str, content: bytes, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Encrypt a recording and its metadata into the columns of an observation row.

    Parameters
    ----------
    keys : KeyRing
        The store's key ring.
    family_id : int
        The family the recording belongs to.
    sha256 : str
        The hash of the clear bytes (kept in clear: it identifies the upload).
    content : bytes
        The file.
    metadata : dict
        What was recorded about the file (coders, settings).

    Returns
    -------
    dict
        ``content``, ``meta`` (empty), ``meta_ciphertext`` and ``key_id`` column values.

    Examples
    --------
    >>> keys = store.core.keyring()
    >>> cols = seal_observation(keys, family, "ab12", b"coded events", {"coder": "RM"})
    >>> sorted(cols), cols["content"] == b"coded events"
    (['content', 'key_id', 'meta', 'meta_ciphertext'], False)
    """
    aad = observation_aad(family_id, sha256)
    return {
        "content": keys.encrypt_bytes(content, aad),
        "meta": {},
        "meta_ciphertext": keys.encrypt(metadata, aad + ":metadata"),
        "key_id": keys.key_id,
    }


def open_metadata(keys: KeyRing | None, row: Any) -> dict[str, Any]:
    """Decrypt the metadata of a stored observation row.

    Parameters
    ----------
    keys : KeyRing or None
        The store's key ring (None only for rows stored before encryption).
    row : object
        The row: ``family_id``, ``sha256``, ``meta``, ``meta_ciphertext`` and ``key_id``.

    Returns
    -------
    dict
        The metadata in clear.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> keys = store.core.keyring()
    >>> row = SimpleNamespace(family_id=family, sha256="ab12",
    ...     **seal_observation(keys, family, "ab12", b"coded events", {"coder": "RM"}))
    >>> open_metadata(keys, row)
    {'coder': 'RM'}
    """
    if row.key_id is None:
        return dict(row.meta or {})
    assert keys is not None
    return keys.decrypt(row.meta_ciphertext, observation_aad(row.family_id, row.sha256) + ":metadata")


def open_content(keys: KeyRing | None, row: Any) -> bytes:
    """Decrypt the file bytes of a stored observation row.

    Parameters
    ----------
    keys : KeyRing or None
        The store's key ring (None only for rows stored before encryption).
    row : object
        The row, with ``content`` loaded and ``family_id``, ``sha256``, ``key_id``.

    Returns
    -------
    bytes
        The file as uploaded.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> sealed = seal_observation(store.core.keyring(), family, "ab12", b"coded events", {})
    >>> row = SimpleNamespace(family_id=family, sha256="ab12", **sealed)
    >>> open_content(store.core.keyring(), row)
    b'coded events'
    """
    if row.key_id is None:
        return bytes(row.content)
    assert keys is not None
    return keys.decrypt_bytes(bytes(row.content), observation_aad(row.family_id, row.sha256))
