"""The organisation folder (docs/org-folder.md): badge-signing keys with rotation, the key list
stations trust, and the paths of everything else the admin tools keep there.

    org = Org.init(Path("org"), "Trans Semarang")   # first badge key; refuses an existing org
    org = Org.open(Path("org"))
    org.signing_key()        # the newest active key: sign badges with it
    org.add_key()            # rotation: a new key signs from now on, the old one stays valid
    org.retire_key("1a2b3c4d")   # badges of that key stop verifying once stations get the list

Every change to the key list bumps its version and rewrites keys.json (the admin's list, with
retired keys), org-keys.json (what stations trust: the non-retired keys) and
org-keys.signed.json (the same for the hub to publish). The signed list is signed by a key the
stations already trust, so they accept it: after `add_key` by the previous signing key (a station
that knows only the old key takes the new list), after `retire_key` by a key that stays active.

Files are written atomically (temp file, fsync, rename); private keys are 0600 and the folder is
0700. org.toml is written last by `init`, so a folder without it is not an organisation.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import time
import tomllib
import unicodedata
import zoneinfo
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from presensi.device.files import write_atomically
from presensi.protocol.errors import ProtocolError
from presensi.protocol.fleet import keys_document, revocations_document
from presensi.protocol.keys import (
    KeyRing,
    Revocations,
    SigningKey,
    key_id_of,
    load_signing_key,
    raw_public,
)
from presensi.provisioning.errors import ProvisioningError

if TYPE_CHECKING:
    from presensi.provisioning.ca import CertificateAuthority

ORG_TOML = "org.toml"
KEYS_DIR = "keys"
KEYS_JSON = "keys.json"
ORG_KEYS = "org-keys.json"
ORG_KEYS_SIGNED = "org-keys.signed.json"
CA_DIR = "ca"
LOCATIONS_CSV = "locations.csv"
EMPLOYEES_CSV = "employees.csv"
BADGES_DB = "badges.db"
REVOCATIONS = "revocations.json"
REVOCATIONS_SIGNED = "revocations.signed.json"
STATIONS_DIR = "stations"
BROKER_DIR = "broker"

PRIVATE = 0o600  # private keys, passwords, personal data
PUBLIC = 0o644  # key lists, locations: readable, but the org folder itself is 0700
FOLDER = 0o700

KeyStatus = Literal["active", "retired"]
ACTIVE: KeyStatus = "active"
RETIRED: KeyStatus = "retired"
# what a key signs: cards and fleet documents ("badges", kept here), or phone certificates
# ("phones": the hub's issuing key, whose private half lives only on the hub)
KeyPurpose = Literal["badges", "phones"]
BADGES: KeyPurpose = "badges"
PHONES: KeyPurpose = "phones"

# what `init --force` moves aside (into replaced-<time>/) before making the new organisation
_KEY_MATERIAL = (ORG_TOML, KEYS_JSON, ORG_KEYS, ORG_KEYS_SIGNED, KEYS_DIR, CA_DIR)


@dataclass(frozen=True)
class KeyEntry:
    """One badge-signing key of keys.json."""

    key_id: str  # 8 hex digits: the first 4 bytes of SHA-256 of the raw public key
    public_key: bytes  # raw 32-byte Ed25519 public key
    status: KeyStatus
    created_ms: int
    purpose: KeyPurpose = BADGES

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def signs_badges(self) -> bool:
        return self.active and self.purpose == BADGES

    @property
    def public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "status": self.status,
            "created_ms": self.created_ms,
        }
        if self.purpose != BADGES:  # a badge key's entry stays as it always was
            data["purpose"] = self.purpose
        return data

    @classmethod
    def of(cls, key: SigningKey, created_ms: int, purpose: KeyPurpose = BADGES) -> KeyEntry:
        return cls(key.key_id.hex(), raw_public(key.public), ACTIVE, created_ms, purpose)


def key_file_name(key_id: str) -> str:
    return f"badge-{key_id}.key"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def valid_timezone(name: str) -> bool:
    """True for an IANA time zone name this machine knows (e.g. "Asia/Jakarta")."""
    if not name or name != name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def timezone_fix(name: str) -> str:
    """The fix to suggest for a time zone name that is not valid."""
    wanted = name.strip().lower()
    for known in sorted(zoneinfo.available_timezones()):
        if known.lower() == wanted:
            return f"write it as {known!r}"
    return (
        "use an IANA name such as 'Asia/Jakarta' (WIB), 'Asia/Makassar' (WITA) "
        "or 'Asia/Jayapura' (WIT)"
    )


def private_key_pem(key: SigningKey) -> str:
    return key.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def write_new_private(path: Path, pem: str) -> None:
    """Write a private key (0600, atomically); refuse to replace an existing file."""
    if path.exists():
        raise ProvisioningError(f"{path} already exists: refusing to overwrite a private key")
    write_atomically(path, pem, mode=PRIVATE)


def make_folder(path: Path) -> None:
    """Create `path` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER)
    path.chmod(FOLDER)


def json_text(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


class Org:
    """An organisation folder. Get one with `Org.init` or `Org.open`; it reads the key list
    from disk on every call, so two Org objects of one folder never disagree."""

    def __init__(self, path: Path, name: str, timezone: str, created: dt.datetime) -> None:
        self.path = path
        self.name = name
        self.timezone = timezone
        self.created = created

    def __repr__(self) -> str:
        return f"<Org {self.name!r} at {self.path}>"

    # -- paths ------------------------------------------------------------------------------

    @property
    def org_toml(self) -> Path:
        return self.path / ORG_TOML

    @property
    def keys_dir(self) -> Path:
        return self.path / KEYS_DIR

    @property
    def keys_json(self) -> Path:
        return self.path / KEYS_JSON

    @property
    def org_keys_path(self) -> Path:
        return self.path / ORG_KEYS

    @property
    def org_keys_signed_path(self) -> Path:
        return self.path / ORG_KEYS_SIGNED

    @property
    def ca_dir(self) -> Path:
        return self.path / CA_DIR

    @property
    def locations_path(self) -> Path:
        return self.path / LOCATIONS_CSV

    @property
    def employees_path(self) -> Path:
        return self.path / EMPLOYEES_CSV

    @property
    def badges_db(self) -> Path:
        return self.path / BADGES_DB

    @property
    def revocations_path(self) -> Path:
        return self.path / REVOCATIONS

    @property
    def revocations_signed_path(self) -> Path:
        return self.path / REVOCATIONS_SIGNED

    @property
    def stations_dir(self) -> Path:
        return self.path / STATIONS_DIR

    @property
    def broker_dir(self) -> Path:
        return self.path / BROKER_DIR

    def key_path(self, key_id: str) -> Path:
        return self.keys_dir / key_file_name(key_id)

    # -- create and open --------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        name: str,
        timezone: str = "Asia/Jakarta",
        *,
        force: bool = False,
        with_ca: bool = False,
    ) -> Org:
        """Create an organisation in `path`: org.toml, the first badge key and the key lists;
        with `with_ca`, a CA for station TLS client certificates in ca/.

        An existing organisation (org.toml) is refused unless `force`; then its key material
        (org.toml, keys.json, keys/, org-keys*.json, ca/) is moved into replaced-<time>/, never
        deleted, and badges signed by its keys no longer verify at stations given the new list.
        """
        folder = Path(path)
        name = _check_name(name)
        if not valid_timezone(timezone):
            raise ProvisioningError(f"unknown time zone {timezone!r}: {timezone_fix(timezone)}")
        if (folder / ORG_TOML).exists() and not force:
            raise ProvisioningError(
                f"{folder} already holds an organisation ({ORG_TOML}). Fix: choose another "
                "folder, or pass --force to replace its keys (the old ones are moved to "
                "replaced-<time>/; badges they signed stop verifying)"
            )
        if folder.exists() and not folder.is_dir():
            raise ProvisioningError(f"{folder} is a file, not a folder. Fix: choose another path")
        make_folder(folder)
        if force:
            _set_aside(folder)
        make_folder(folder / KEYS_DIR)
        created = dt.datetime.now(dt.UTC).replace(microsecond=0)
        org = cls(folder, name, timezone, created)
        key = SigningKey.generate()
        write_new_private(org.key_path(key.key_id.hex()), private_key_pem(key))
        org._publish_keys([KeyEntry.of(key, now_ms())], version=1, signer=key)
        if force:
            for stale in (org.revocations_path, org.revocations_signed_path):
                stale.unlink(missing_ok=True)  # signed by a key that no station trusts now
        # an empty signed revocation list from the start: `hub publish-fleet --revocations`
        # works on the first day, before anything was revoked
        org._write_revocations(Revocations(1, frozenset()), key)
        if with_ca:
            from presensi.provisioning.ca import CertificateAuthority

            CertificateAuthority.create(org.ca_dir, name)
        # last: a folder with org.toml is a complete organisation
        write_atomically(org.org_toml, org._toml_text(), mode=PUBLIC)
        return org

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Org:
        """Open an existing organisation folder; ProvisioningError if it is missing or
        incomplete."""
        folder = Path(path)
        toml_path = folder / ORG_TOML
        if not folder.is_dir():
            raise ProvisioningError(
                f"{folder}: no organisation folder. Fix: pass --org (or set PRESENSI_ORG) to "
                "the right folder, or create one with `presensi provision init`"
            )
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProvisioningError(
                f"{folder} is not an organisation folder (no {ORG_TOML}). Fix: pass the right "
                "--org folder, or create one with `presensi provision init`"
            ) from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ProvisioningError(f"{toml_path}: cannot read it ({exc})") from exc
        name, timezone, created = data.get("name"), data.get("timezone"), data.get("created")
        if not isinstance(name, str) or not isinstance(timezone, str):
            raise ProvisioningError(f"{toml_path}: needs text fields 'name' and 'timezone'")
        if not valid_timezone(timezone):
            raise ProvisioningError(
                f"{toml_path}: unknown time zone {timezone!r}: {timezone_fix(timezone)}"
            )
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        if not isinstance(created, dt.datetime):
            created = dt.datetime.fromtimestamp(0, dt.UTC)
        org = cls(folder, name, timezone, created)
        org._read_key_list()  # checks keys.json
        return org

    def _toml_text(self) -> str:
        stamp = self.created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            "# Presensi organisation (docs/org-folder.md); written by `presensi provision init`\n"
            f"name = {json.dumps(self.name, ensure_ascii=False)}\n"
            f"timezone = {json.dumps(self.timezone)}\n"
            f"created = {stamp}\n"
        )

    # -- the key list -----------------------------------------------------------------------

    def key_entries(self) -> list[KeyEntry]:
        """Every badge key of keys.json, oldest first, retired ones included."""
        return self._read_key_list()[1]

    def key_list_version(self) -> int:
        return self._read_key_list()[0]

    def active_keys(self) -> list[KeyEntry]:
        return [entry for entry in self.key_entries() if entry.active]

    def key_ring(self) -> KeyRing:
        """The keys stations accept badges from: every key not retired."""
        return KeyRing.of(entry.public for entry in self.active_keys())

    def signing_key(self) -> SigningKey:
        """The key to sign badges (and fleet documents) with: the newest active badge key."""
        return self._load_key(_newest(_badge_keys(self.active_keys())))

    def add_key(self) -> SigningKey:
        """Rotation: generate a new badge key, which signs from now on; the previous keys stay
        valid until retired. The new key list is signed by the previous signing key, which every
        station already trusts."""
        version, entries = self._read_key_list()
        old_signer = self._load_key(_newest(_badge_keys(entries)))
        key = _new_key(entries)
        created = max([now_ms(), *(e.created_ms + 1 for e in entries)])
        write_new_private(self.key_path(key.key_id.hex()), private_key_pem(key))
        self._publish_keys([*entries, KeyEntry.of(key, created)], version + 1, old_signer)
        return key

    def add_phone_key(self, out: Path) -> SigningKey:
        """A phone issuing key for the hub: its private half is written to `out` (0600, for
        `presensi hub web --phone-key`) and nowhere else; its public half joins the key list
        stations trust, signed by the badge signing key. It never signs cards."""
        version, entries = self._read_key_list()
        signer = self._load_key(_newest(_badge_keys(entries)))
        key = _new_key(entries)
        created = max([now_ms(), *(e.created_ms + 1 for e in entries)])
        try:
            write_new_private(out, private_key_pem(key))
        except FileExistsError:
            raise ProvisioningError(f"{out} exists: give another --out, or move it") from None
        self._publish_keys([*entries, KeyEntry.of(key, created, PHONES)], version + 1, signer)
        return key

    def retire_key(self, key_id: str | bytes) -> KeyEntry:
        """Retire a key: it leaves org-keys.json, so stations reject its badges (unknown_key)
        once they have the new list. The last active key cannot be retired. The new list is
        signed by a key that stays active. Returns the retired entry."""
        wanted = key_id.hex() if isinstance(key_id, bytes) else key_id.strip().lower()
        version, entries = self._read_key_list()
        found = [e for e in entries if e.key_id == wanted]
        if not found:
            known = ", ".join(f"{e.key_id} ({e.status})" for e in entries)
            raise ProvisioningError(
                f"no badge key {wanted!r} in {self.keys_json}. Fix: use one of {known} "
                "(`presensi provision keys list`)"
            )
        if not found[0].active:
            raise ProvisioningError(f"badge key {wanted} is already retired")
        remaining = [e for e in entries if e.signs_badges and e.key_id != wanted]
        if not remaining:
            raise ProvisioningError(
                f"badge key {wanted} is the last active key: retiring it would leave no key to "
                "sign badges. Fix: add a new key first (`presensi provision keys add`)"
            )
        signer = self._load_key(_newest(remaining))
        retired = replace(found[0], status=RETIRED)
        updated = [retired if e.key_id == wanted else e for e in entries]
        self._publish_keys(updated, version + 1, signer)
        return retired

    def signed_keys_document(self) -> bytes:
        """org-keys.signed.json as written at the last change (for the hub to publish)."""
        return self.org_keys_signed_path.read_bytes()

    def _load_key(self, entry: KeyEntry) -> SigningKey:
        path = self.key_path(entry.key_id)
        if not path.exists():
            raise ProvisioningError(
                f"{path}: the private key of active badge key {entry.key_id} is missing. "
                "Fix: restore it from the backup of the org folder"
            )
        try:
            key = load_signing_key(path)
        except ProtocolError as exc:
            raise ProvisioningError(f"{exc}. Fix: restore it from the backup") from exc
        if raw_public(key.public) != entry.public_key:
            raise ProvisioningError(
                f"{path} does not hold the key {entry.key_id} listed in {self.keys_json}. "
                "Fix: restore both from the same backup"
            )
        return key

    def _read_key_list(self) -> tuple[int, list[KeyEntry]]:
        path = self.keys_json
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProvisioningError(
                f"{self.path} is incomplete: no {KEYS_JSON}. Fix: restore it from the backup, "
                "or re-create the organisation with `presensi provision init --force`"
            ) from None
        except (OSError, ValueError) as exc:
            raise ProvisioningError(f"{path}: cannot read it ({exc})") from exc
        try:
            version = data["version"]
            entries = [_entry_from_json(item) for item in data["keys"]]
            if not isinstance(version, int) or version < 1:
                raise ValueError("version must be a positive integer")
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ProvisioningError(f"{path}: not a valid key list ({exc})") from exc
        if not _badge_keys(entries):
            raise ProvisioningError(f"{path}: no active badge key. Fix: restore the backup")
        return version, entries

    def _publish_keys(self, entries: list[KeyEntry], version: int, signer: SigningKey) -> None:
        """Write org-keys.json, org-keys.signed.json, then keys.json (the admin's list) last."""
        version = max(version, _version_in(self.org_keys_path) + 1)
        ring = KeyRing.of(entry.public for entry in entries if entry.active)
        trusted = {"version": version, **ring.to_json()}
        write_atomically(self.org_keys_path, json_text(trusted), mode=PUBLIC)
        document = keys_document(ring, version, signer).decode("utf-8")
        write_atomically(self.org_keys_signed_path, document, mode=PUBLIC)
        full = {"version": version, "keys": [entry.to_json() for entry in entries]}
        write_atomically(self.keys_json, json_text(full), mode=PUBLIC)

    # -- revocations ------------------------------------------------------------------------

    def revocations(self) -> Revocations:
        """The current revocation list (revocations.json); version 0 and empty if none yet."""
        try:
            return Revocations.from_json(json.loads(self.revocations_path.read_text()))
        except FileNotFoundError:
            return Revocations()
        except (OSError, ValueError, ProtocolError) as exc:
            raise ProvisioningError(f"{self.revocations_path}: not readable ({exc})") from exc

    def publish_revocations(self, revoked: Revocations) -> None:
        """Write revocations.json and revocations.signed.json (signed by the signing key).
        The version must be above the current one: stations ignore a list not newer than
        theirs."""
        current = self.revocations().version
        if revoked.version <= current:
            raise ProvisioningError(
                f"revocation list version {revoked.version} is not above the current "
                f"{current}: stations would ignore it"
            )
        self._write_revocations(revoked, self.signing_key())

    def _write_revocations(self, revoked: Revocations, key: SigningKey) -> None:
        document = revocations_document(revoked, key).decode("utf-8")
        write_atomically(self.revocations_signed_path, document, mode=PUBLIC)
        write_atomically(self.revocations_path, json_text(revoked.to_json()), mode=PUBLIC)

    # -- the optional CA --------------------------------------------------------------------

    @property
    def has_ca(self) -> bool:
        from presensi.provisioning.ca import CA_CERT, CA_KEY

        return (self.ca_dir / CA_KEY).exists() and (self.ca_dir / CA_CERT).exists()

    def ca(self) -> CertificateAuthority:
        from presensi.provisioning.ca import CertificateAuthority

        return CertificateAuthority.open(self.ca_dir)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ProvisioningError("the organisation needs a name (--name)")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ProvisioningError(f"organisation name {name!r} contains control characters")
    return name


def _badge_keys(entries: list[KeyEntry]) -> list[KeyEntry]:
    return [entry for entry in entries if entry.signs_badges]


def _new_key(entries: list[KeyEntry]) -> SigningKey:
    taken = {entry.key_id for entry in entries}
    key = SigningKey.generate()
    while key.key_id.hex() in taken:  # 1 in 4 billion; a ring must not hold two
        key = SigningKey.generate()
    return key


def _newest(entries: list[KeyEntry]) -> KeyEntry:
    # keys.json lists keys oldest first; on equal times the later entry is the newer
    return max(reversed(entries), key=lambda entry: entry.created_ms)


def _entry_from_json(item: Any) -> KeyEntry:
    key_id, public, status, created = (
        item["key_id"],
        base64.b64decode(item["public_key"], validate=True),
        item["status"],
        item["created_ms"],
    )
    purpose = item.get("purpose", BADGES)
    if status not in (ACTIVE, RETIRED):
        raise ValueError(f"key {key_id}: status must be 'active' or 'retired', not {status!r}")
    if purpose not in (BADGES, PHONES):
        raise ValueError(f"key {key_id}: purpose must be 'badges' or 'phones', not {purpose!r}")
    if not isinstance(created, int) or not isinstance(key_id, str):
        raise ValueError(f"key {key_id}: created_ms must be an integer")
    entry = KeyEntry(key_id, public, status, created, purpose)
    if key_id_of(entry.public).hex() != key_id:
        raise ValueError(f"key {key_id}: the id does not match its public key")
    return entry


def _version_in(path: Path) -> int:
    try:
        version = json.loads(path.read_text()).get("version", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return version if isinstance(version, int) else 0


def _set_aside(folder: Path) -> Path | None:
    """Move an organisation's key material into replaced-<UTC time>/ (for `init --force`)."""
    present = [name for name in _KEY_MATERIAL if (folder / name).exists()]
    if not present:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = folder / f"replaced-{stamp}"
    make_folder(aside)
    for name in present:
        (folder / name).rename(aside / name)
    return aside
