"""Stored events encrypted with the newest key of a keyring and read with any of its keys.

``CIPHER_KEYS`` (in the application's environment) holds base64 AES keys, newest first. A new
event is encrypted (AES-GCM, eventsourcing's ``AESCipher`` format) with the newest; a stored
one is decrypted by whichever key wrote it, so adding a key (``tiffin keys rotate``) leaves
every older event readable. An event written before there was any key (only compressed) is
recognised as such, a zlib stream no key decrypts, and read as it is: a data directory from an
earlier release keeps working, and is encrypted forward.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

CIPHER_KEYS = "CIPHER_KEYS"
KEYRING_CIPHER_TOPIC = "adapters.keyring_cipher:KeyringCipher"


class KeyringCipher(Cipher):
    def __init__(self, environment: Environment) -> None:
        keys = [key.strip() for key in (environment.get(CIPHER_KEYS) or "").split(",")]
        keys = [key for key in keys if key]
        if not keys:
            raise OSError(f"'{CIPHER_KEYS}' not in env")
        self.ciphers = [AESCipher(Environment(env={"CIPHER_KEY": key})) for key in keys]

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.ciphers[0].encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        for cipher in self.ciphers:
            try:
                return cipher.decrypt(ciphertext)
            except ValueError:
                continue
        if _written_before_any_key(ciphertext):
            return ciphertext
        raise ValueError("Invalid cipher tag: no key of the keyring decrypts this event")


def _written_before_any_key(stored: bytes) -> bool:
    """Whether these bytes are a whole zlib stream (what events were before encryption)."""
    if len(stored) < 2 or stored[0] != 0x78 or (stored[0] * 256 + stored[1]) % 31:
        return False
    try:
        zlib.decompress(stored)
    except zlib.error:
        return False
    return True


SEALED = "sealed:"  # AES-GCM, the API's stored answers
SEALED_IN_VIEW = "sealed-siv:"  # AES-SIV, text in the views


class KeyringSealer:
    """Text sealed with the keyring (the API's stored answers): ``sealed:<base64>``; text stored
    before there was a key is returned as it is."""

    def __init__(self, keys: list[str]) -> None:
        self.cipher = KeyringCipher(Environment(env={CIPHER_KEYS: ",".join(keys)}))

    def seal(self, text: str) -> str:
        return SEALED + base64.b64encode(self.cipher.encrypt(text.encode())).decode()

    def unseal(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        return self.cipher.decrypt(base64.b64decode(stored[len(SEALED) :])).decode()


PSEUDONYM = "p_"


class KeyringPersonal:
    """Views' personal data (``projections.personal``) keyed by the keyring: pseudonyms are an
    HMAC-SHA256 keyed from the oldest key (keys are only ever added, so a person keeps one
    pseudonym across rotations); text is sealed with AES-SIV (deterministic, so a replay writes
    the same bytes) keyed from the newest key and opened with any."""

    def __init__(self, keys: list[str]) -> None:
        secrets = [base64.b64decode(key.strip()) for key in keys if key.strip()]
        if not secrets:
            raise ValueError("a keyring needs at least one key")
        self._pseudonym_key = _derived(secrets[-1], b"tiffin view pseudonyms", 32)
        self._sealers = [AESSIV(_derived(secret, b"tiffin view text", 64)) for secret in secrets]
        # The same people act again and again (a rebuild meets each customer many times).
        self._pseudonyms = functools.lru_cache(maxsize=65_536)(self._pseudonym_of)

    def pseudonym(self, person: str) -> str:
        return self._pseudonyms(person)

    def _pseudonym_of(self, person: str) -> str:
        digest = hmac.new(self._pseudonym_key, person.encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM + digest[:32]

    def seal(self, text: str) -> str:
        return (
            SEALED_IN_VIEW
            + base64.b64encode(self._sealers[0].encrypt(text.encode(), None)).decode()
        )

    def unseal(self, stored: str) -> str:
        if not stored.startswith(SEALED_IN_VIEW):
            return stored
        sealed = base64.b64decode(stored[len(SEALED_IN_VIEW) :])
        for sealer in self._sealers:
            try:
                return sealer.decrypt(sealed, None).decode()
            except InvalidTag:
                continue
        raise ValueError("no key of the keyring opens this text")


def _derived(secret: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(secret)
