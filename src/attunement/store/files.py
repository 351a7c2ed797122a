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
    """The associated data binding a stored observation file to its family and content."""
    return f"observation:{family_id}:{sha256}"


def seal_observation(
    keys: KeyRing, family_id: int, sha256: str, content: bytes, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Column values of an observation row holding ``content`` and ``metadata`` encrypted.

    ``sha256`` is the hash of the clear bytes (kept in clear: it identifies the upload).
    """
    aad = observation_aad(family_id, sha256)
    return {
        "content": keys.encrypt_bytes(content, aad),
        "meta": {},
        "meta_ciphertext": keys.encrypt(metadata, aad + ":metadata"),
        "key_id": keys.key_id,
    }


def open_metadata(keys: KeyRing | None, row: Any) -> dict[str, Any]:
    """The clear metadata of an observation row (``row``: .family_id, .sha256, .meta,
    .meta_ciphertext, .key_id)."""
    if row.key_id is None:
        return dict(row.meta or {})
    assert keys is not None
    return keys.decrypt(row.meta_ciphertext, observation_aad(row.family_id, row.sha256) + ":metadata")


def open_content(keys: KeyRing | None, row: Any) -> bytes:
    """The clear bytes of an observation row (``row.content`` loaded)."""
    if row.key_id is None:
        return bytes(row.content)
    assert keys is not None
    return keys.decrypt_bytes(bytes(row.content), observation_aad(row.family_id, row.sha256))
