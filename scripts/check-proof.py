#!/usr/bin/env python3
"""Check a LeadLedger proof (`leadledger prove LEAD`) offline, with nothing but Python's standard library.

    python3 scripts/check-proof.py lead-proof.json [--public-key HEX]

For each record of the proof it recomputes the chained record hash, requires the event the record
holds to name the proof's lead (a lead's name is not part of the hash, so a proof relabelled with
another lead must fail), and recomputes the RFC 6962 leaf hash and the inclusion path up to the
receipt's Merkle root; then it checks the receipt's Ed25519 signature
(RFC 8032), under --public-key when given (the ledger's key, as `leadledger receipt` prints it),
else under the key the receipt names. Exit status 0 when the proof holds, 1 when it does not,
2 when the file cannot be read as a proof.
"""

import base64
import hashlib
import json
import sys

# --- Ed25519 signature verification (RFC 8032), written out so auditors need no package. ---

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    # Extended twisted Edwards coordinates (X, Y, Z, T), curve -x^2 + y^2 = 1 + d x^2 y^2.
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % P
    e2 = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, dd - c, dd + c, e2 + e1
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _decode_point(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


def _encode_point(point):
    x, y, z, _ = point
    zinv = pow(z, P - 2, P)
    x, y = x * zinv % P, y * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BASE_Y = 4 * pow(5, P - 2, P) % P
BASE = _decode_point(_BASE_Y.to_bytes(32, "little"))


def ed25519_verify(public_key, message, signature):
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    if a is None or _decode_point(signature[:32]) is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    # R = [s]B - [h]A, compared by its encoding.
    minus_a = ((P - a[0]) % P, a[1], a[2], (P - a[3]) % P)
    r = _add(_multiply(s, BASE), _multiply(h, minus_a))
    return _encode_point(r) == signature[:32]


# --- The ledger's hashes. ---

HEADER_SIZE = 64


def record_hash(previous, position, record):
    return hashlib.sha256(previous + position.to_bytes(8, "little") + record[:32] + record[HEADER_SIZE:]).digest()


# The event a record holds (LeadLedger's binary event form, version 1): format version, type code,
# flags, occurredAt, id (32 bytes in all), then a fixed area whose size depends on the type, then the
# lead as the first string slot (a little-endian UInt16 byte count, 0xFFFF for absent, then UTF-8).
EVENT_TYPES = set(range(1, 17)) | {20}
FIXED_AREA = {3: 8, 4: 8, 8: 8, 9: 8, 10: 16, 13: 20, 15: 1, 16: 36}


def event_lead(payload):
    """The lead a record's event names; None when it names none. Raises ValueError on a payload
    that is not an event."""
    if len(payload) < 32 or payload[0] != 1:
        raise ValueError("it does not hold an event of format version 1")
    if payload[1] not in EVENT_TYPES:
        raise ValueError(f"it holds an event of unknown type code {payload[1]}")
    at = 32 + FIXED_AREA.get(payload[1], 0)
    if len(payload) < at + 2:
        raise ValueError("its event ends before the lead")
    size = int.from_bytes(payload[at : at + 2], "little")
    if size == 0xFFFF:
        return None
    if len(payload) < at + 2 + size:
        raise ValueError("its event ends inside the lead")
    return payload[at + 2 : at + 2 + size].decode("utf-8")


def leaf_hash(h):
    return hashlib.sha256(b"\x00" + h).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    # RFC 9162, 2.1.3.2.
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def unhex(text, size, what):
    try:
        value = bytes.fromhex(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is not hex")
    if size is not None and len(value) != size:
        raise ValueError(f"{what} is not {size} bytes")
    return value


def receipt_problem(receipt, trusted_key):
    if receipt.get("format") != "leadledger-receipt/1":
        return f"the receipt's format is {receipt.get('format')!r}"
    if trusted_key is not None and trusted_key.lower() != str(receipt["publicKey"]).lower():
        return "the receipt was signed by another key than the one given"
    text = "leadledger-receipt/1\nposition={}\nhead={}\nroot={}\ntime={}\n".format(
        receipt["position"], receipt["headHash"], receipt["treeRoot"], receipt["time"]
    )
    unhex(receipt["headHash"], 32, "the receipt's headHash")
    key = unhex(receipt["publicKey"], 32, "the receipt's publicKey")
    signature = unhex(receipt["signature"], 64, "the receipt's signature")
    if not ed25519_verify(key, text.encode("utf-8"), signature):
        return "the receipt's signature does not match its contents: it was altered or forged"
    return None


def proof_problem(proof, trusted_key=None):
    if proof.get("format") != "leadledger-proof/1":
        return f"the proof's format is {proof.get('format')!r}"
    receipt = proof["receipt"]
    problem = receipt_problem(receipt, trusted_key)
    if problem:
        return problem
    records = proof["records"]
    if not records:
        return "the proof holds no record"
    size = receipt["position"]
    if not isinstance(size, int) or size < 0:
        return "the receipt's position is not a count"
    root = unhex(receipt["treeRoot"], 32, "the receipt's treeRoot")
    stream, last = None, 0
    for i, entry in enumerate(records):
        position = entry["position"]
        name = f"record {i + 1} (position {position})"
        if not isinstance(position, int) or not last < position <= size:
            return f"{name}: positions must increase and not pass the receipt's {size}"
        last = position
        try:
            record = base64.b64decode(entry["record"], validate=True)
        except (TypeError, ValueError):
            return f"{name}: the record is not base64"
        # Decoders ignore a last character's unused bits: only the one text of the bytes is accepted.
        if base64.b64encode(record).decode("ascii") != entry["record"]:
            return f"{name}: the record is not in canonical base64 (its last character's unused bits are set)"
        if len(record) < HEADER_SIZE:
            return f"{name}: the record is shorter than its header"
        number = int.from_bytes(record[4:8], "little")
        if number == 0 or (stream is not None and number != stream):
            return f"{name}: it belongs to another stream than the proof's first record"
        stream = number
        previous = unhex(entry["previousHash"], 32, f"{name}: previousHash")
        stored = record[32:64]
        if record_hash(previous, position, record) != stored:
            return f"{name}: the record's contents do not match its hash"
        try:
            lead = event_lead(record[HEADER_SIZE:])
        except (ValueError, UnicodeDecodeError) as error:
            return f"{name}: {error}"
        if lead != proof["stream"]:
            named = "no lead" if lead is None else json.dumps(lead, ensure_ascii=False)
            return f"{name}: its event names {named}, not the proof's {json.dumps(proof['stream'], ensure_ascii=False)}"
        path = [unhex(p, 32, f"{name}: a path hash") for p in entry["path"]]
        if not verify_inclusion(leaf_hash(stored), position - 1, size, path, root):
            return f"{name}: its path does not lead to the receipt's root: it is not part of the signed head"
    return None


def main(argv):
    args = argv[1:]
    trusted = None
    if "--public-key" in args:
        i = args.index("--public-key")
        if i + 1 >= len(args):
            print("usage: check-proof.py PROOF.json [--public-key HEX]", file=sys.stderr)
            return 2
        trusted = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        print("usage: check-proof.py PROOF.json [--public-key HEX]", file=sys.stderr)
        return 2
    try:
        with open(args[0], "rb") as f:
            proof = json.loads(f.read())
    except (OSError, ValueError) as error:
        print(f"error: cannot read {args[0]} as a proof: {error}", file=sys.stderr)
        return 2
    try:
        problem = proof_problem(proof, trusted)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        problem = f"the proof is malformed: {error}"
    if problem:
        print(f"the proof does not hold: {problem}", file=sys.stderr)
        return 1
    receipt = proof["receipt"]
    print(
        f"proof holds: {len(proof['records'])} events of {proof['stream']} are part of the head at position "
        f"{receipt['position']} ({receipt['headHash']}), signed {receipt['time']} by {receipt['publicKey']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
