#!/usr/bin/python3
"""Validate OCI image-spec documents the way upstream's schema.Validator does.

  validate_oci.py cases  <conformance-dir>               upstream's testcases and spec examples
  validate_oci.py layout [--conformance DIR] <oci-dir>   an OCI image layout, e.g. strata's store

<conformance-dir> is shared/conformance/oci-image-spec (see its README.md). Prints each
failure, then `oci-schema: N passed, M failed`; exits 1 if anything failed, 77 (ctest's
skip code) if the conformance data is absent, 2 on bad usage.

Upstream (image-spec schema/validator.go) passes a document only if all of these hold,
so all are applied here:
  1. it is strict JSON;
  2. it matches the draft-04 schema with formats asserted ("uri" = absolute URI,
     "date-time" = RFC 3339);
  3. it decodes into the Go struct for its media type (int64 sizes, standard base64 with
     padding for []byte `data`, RFC 3339 time.Time, field types);
  4. descriptor validator only: go-digest's check (lower-case hex of the right length for
     sha256/sha384/sha512; other algorithms are "unsupported" and accepted);
  5. config only: every config.Env entry matches ^[^=]+=.*$.

Run it with Debian's /usr/bin/python3 and python3-jsonschema (4.10), as CI does.
"""

import base64
import csv
import datetime
import hashlib
import json
import os
import re
import sys

try:
    import jsonschema
    import jsonschema.validators
except ImportError:
    sys.exit("validate_oci.py: needs Debian's python3-jsonschema under /usr/bin/python3 (scripts/setup.sh installs it)")

DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

SCHEMA_FILE = {
    DESCRIPTOR: "content-descriptor.json",
    MANIFEST: "image-manifest-schema.json",
    INDEX: "image-index-schema.json",
    CONFIG: "config-schema.json",
    LAYOUT_HEADER: "image-layout-schema.json",
}

# The other URLs upstream registers each file under (image-spec schema/schema.go).
SCHEMA_ALIASES = {
    "config-schema.json": ["https://opencontainers.org/schema/image/config"],
    "content-descriptor.json": [
        "https://opencontainers.org/schema/descriptor",
        "https://opencontainers.org/schema/image/content-descriptor.json",
    ],
    "defs-descriptor.json": [
        "https://opencontainers.org/schema/image/descriptor/mediaType",
        "https://opencontainers.org/schema/defs-descriptor.json",
        "https://opencontainers.org/schema/image/defs-descriptor.json",
    ],
    "defs.json": [
        "https://opencontainers.org/schema/defs.json",
        "https://opencontainers.org/schema/image/defs.json",
        "https://opencontainers.org/schema/image/descriptor/defs.json",
    ],
    "image-index-schema.json": ["https://opencontainers.org/schema/image/index"],
    "image-layout-schema.json": ["https://opencontainers.org/schema/image/layout"],
    "image-manifest-schema.json": ["https://opencontainers.org/schema/image/manifest"],
}

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Invalid(Exception):
    """A document breaks one of the rules; the message says which and where."""


# ---------------------------------------------------------------- 1. strict JSON

def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"duplicate key(s) {duplicates}")
    return dict(pairs)


def parse_strict_json(data):
    """RFC 8259 only: UTF-8 without BOM, no NaN/Infinity, no duplicate keys.

    Go's encoding/json tolerates duplicate keys (the last wins); no upstream case has
    one, and a writer that emits them is broken, so they are rejected here."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise Invalid(f"not strict JSON: {e}") from None


# ---------------------------------------------------------------- 2. draft-04 schema with formats

_UNRESERVED_SUBDELIMS = r"A-Za-z0-9\-._~!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED_SUBDELIMS}:@]|{_PCT})"
_AUTHORITY = (rf"(?:(?:[{_UNRESERVED_SUBDELIMS}:]|{_PCT})*@)?"
              rf"(?:\[[0-9A-Za-z:.\-._~!$&'()*+,;=]+\]|(?:[{_UNRESERVED_SUBDELIMS}]|{_PCT})*)"
              r"(?::[0-9]*)?")
# RFC 3986 "URI" (absolute: a scheme is required), with all four hier-part forms.
_ABSOLUTE_URI = re.compile(
    rf"[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://{_AUTHORITY}(?:/{_PCHAR}*)*|/?(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?")

# RFC 3339 date-time with Go's time.Time limits (upper-case T and Z, no leap second),
# because upstream also decodes `created` into a time.Time.
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))")


def is_absolute_uri(value):
    return not isinstance(value, str) or _ABSOLUTE_URI.fullmatch(value) is not None


def is_date_time(value):
    if not isinstance(value, str):
        return True
    m = _DATE_TIME.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    off_hour, off_minute = m.group(7), m.group(8)
    return off_hour is None or (int(off_hour) < 24 and int(off_minute) < 60)


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("uri")(is_absolute_uri)
FORMATS.checks("date-time")(is_date_time)


def _go_pattern(validator, pattern, instance, schema):
    """`pattern` with Go RE2 semantics for the schemas' ^...$: Python's `$` also matches
    before a final newline, Go's only at the end of the text."""
    if not validator.is_type(instance, "string"):
        return
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    if re.search(pattern, instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


OciDraft4Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {"pattern": _go_pattern})


def _drop_ids_beside_refs(node):
    """Draft-04 ignores every sibling of "$ref", "id" included (upstream's validator does
    too). python-jsonschema 4.10 would still enter that "id" as base URI and then resolve
    the $ref against a URL no schema is registered under."""
    if isinstance(node, dict):
        if "$ref" in node:
            node.pop("id", None)
        for value in node.values():
            _drop_ids_beside_refs(value)
    elif isinstance(node, list):
        for value in node:
            _drop_ids_beside_refs(value)


def _refuse_remote(uri):
    raise Invalid(f"schema reference {uri} is not one of the registered schema files")


class Schemas:
    """The image-spec schema files, each under its file name and upstream's aliases."""

    def __init__(self, schema_dir):
        self.documents = {}
        store = {}
        for name, aliases in SCHEMA_ALIASES.items():
            with open(os.path.join(schema_dir, name), "rb") as f:
                # Python ints are exact: the size bound 9223372036854776000 (int64 max
                # rounded as a double, above INT64_MAX) loads as written. The real int64
                # limit comes from the Go-decoding rule below.
                document = json.loads(f.read().decode("utf-8"))
            _drop_ids_beside_refs(document)
            self.documents[name] = document
            for uri in [name, document.get("id", "")] + aliases:
                if uri:
                    store[uri] = document
        self.store = store
        for document in self.documents.values():
            OciDraft4Validator.check_schema(document)

    def errors(self, media_type, document):
        schema = self.documents[SCHEMA_FILE[media_type]]
        resolver = jsonschema.RefResolver(
            base_uri=schema.get("id", SCHEMA_FILE[media_type]), referrer=schema, store=self.store,
            handlers={"http": _refuse_remote, "https": _refuse_remote, "file": _refuse_remote})
        validator = OciDraft4Validator(schema, resolver=resolver, format_checker=FORMATS)
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
            yield f"schema: {_where(error.absolute_path)}: {error.message}"


def _where(path):
    return "/" + "/".join(str(p) for p in path)


# ---------------------------------------------------------------- 3. decoding into the Go structs

class GoInt:
    """A Go integer field: a JSON integer (no fraction or exponent) within the bounds."""

    def __init__(self, low, high):
        self.low, self.high = low, high


class GoBytes:
    """A Go []byte field: standard base64 with padding (encoding/json skips \\r and \\n)."""


class GoTime:
    """A Go *time.Time field: RFC 3339."""


class GoStruct(dict):
    """Field name -> type. encoding/json matches names case-insensitively and ignores unknown keys."""


class GoSlice:
    def __init__(self, element):
        self.element = element


class GoMap:
    def __init__(self, value):
        self.value = value


GO_INT64 = GoInt(INT64_MIN, INT64_MAX)
GO_EMPTY_STRUCT = GoStruct()
GO_STRING_MAP = GoMap(str)
GO_PLATFORM = GoStruct({"architecture": str, "os": str, "os.version": str,
                        "os.features": GoSlice(str), "variant": str})
GO_DESCRIPTOR = GoStruct({"mediaType": str, "digest": str, "size": GO_INT64, "urls": GoSlice(str),
                          "annotations": GO_STRING_MAP, "data": GoBytes(), "platform": GO_PLATFORM,
                          "artifactType": str})
GO_MANIFEST = GoStruct({"schemaVersion": GO_INT64, "mediaType": str, "artifactType": str,
                        "config": GO_DESCRIPTOR, "layers": GoSlice(GO_DESCRIPTOR),
                        "subject": GO_DESCRIPTOR, "annotations": GO_STRING_MAP})
GO_INDEX = GoStruct({"schemaVersion": GO_INT64, "mediaType": str, "artifactType": str,
                     "manifests": GoSlice(GO_DESCRIPTOR), "subject": GO_DESCRIPTOR,
                     "annotations": GO_STRING_MAP})
GO_IMAGE_CONFIG = GoStruct({"User": str, "ExposedPorts": GoMap(GO_EMPTY_STRUCT), "Env": GoSlice(str),
                            "Entrypoint": GoSlice(str), "Cmd": GoSlice(str),
                            "Volumes": GoMap(GO_EMPTY_STRUCT), "WorkingDir": str,
                            "Labels": GO_STRING_MAP, "StopSignal": str, "ArgsEscaped": bool})
GO_HISTORY = GoStruct({"created": GoTime(), "created_by": str, "author": str, "comment": str,
                       "empty_layer": bool})
GO_IMAGE = GoStruct({"created": GoTime(), "author": str, "architecture": str, "os": str,
                     "os.version": str, "os.features": GoSlice(str), "variant": str,
                     "config": GO_IMAGE_CONFIG,
                     "rootfs": GoStruct({"type": str, "diff_ids": GoSlice(str)}),
                     "history": GoSlice(GO_HISTORY)})
GO_TYPE = {DESCRIPTOR: GO_DESCRIPTOR, MANIFEST: GO_MANIFEST, INDEX: GO_INDEX, CONFIG: GO_IMAGE}

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def go_decode_errors(go_type, value, path=()):
    """What json.Unmarshal into go_type would reject. A JSON null is always accepted."""
    if value is None:
        return
    where = _where(path)
    if go_type is str:
        if not isinstance(value, str):
            yield f"decode: {where}: want a string"
    elif go_type is bool:
        if not isinstance(value, bool):
            yield f"decode: {where}: want a boolean"
    elif isinstance(go_type, GoInt):
        if isinstance(value, bool) or not isinstance(value, int) or not go_type.low <= value <= go_type.high:
            yield f"decode: {where}: want an integer in [{go_type.low}, {go_type.high}]"
    elif isinstance(go_type, GoBytes):
        yield from _bytes_errors(value, where)
    elif isinstance(go_type, GoTime):
        if not isinstance(value, str) or not is_date_time(value):
            yield f"decode: {where}: want an RFC 3339 time"
    elif isinstance(go_type, GoSlice):
        if not isinstance(value, list):
            yield f"decode: {where}: want an array"
            return
        for i, element in enumerate(value):
            yield from go_decode_errors(go_type.element, element, path + (i,))
    elif isinstance(go_type, GoMap):
        if not isinstance(value, dict):
            yield f"decode: {where}: want an object"
            return
        for key, element in value.items():
            yield from go_decode_errors(go_type.value, element, path + (key,))
    elif isinstance(go_type, GoStruct):
        yield from _struct_errors(go_type, value, path)


def _bytes_errors(value, where):
    if not isinstance(value, str):
        yield f"decode: {where}: want a base64 string"
        return
    text = value.replace("\r", "").replace("\n", "")
    if len(text) % 4 != 0 or not _BASE64.fullmatch(text):
        yield f"decode: {where}: not standard base64 with padding"
        return
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        yield f"decode: {where}: not standard base64 with padding"


def _struct_errors(go_type, value, path):
    if not isinstance(value, dict):
        yield f"decode: {_where(path)}: want an object"
        return
    fields_folded = {name.lower(): field_type for name, field_type in go_type.items()}
    for key, element in value.items():
        field_type = go_type.get(key, fields_folded.get(key.lower()))
        if field_type is not None:
            yield from go_decode_errors(field_type, element, path + (key,))


# ---------------------------------------------------------------- 4. and 5. media-type checks

_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}


def digest_errors(descriptor):
    """go-digest's Digest.Validate, which upstream applies with the descriptor validator."""
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str):
        return  # the schema reports a missing or mistyped digest
    algorithm, _, encoded = digest.partition(":")
    length = _DIGEST_HEX_LENGTH.get(algorithm)
    if length is not None and not re.fullmatch(f"[a-f0-9]{{{length}}}", encoded):
        yield f"digest: {digest!r}: {algorithm} needs {length} lower-case hex digits"


_ENV_ENTRY = re.compile(r"[^=]+=.*")


def env_errors(config):
    env = ((config.get("config") or {}) if isinstance(config, dict) else {}).get("Env")
    if not isinstance(env, list):
        return
    for i, entry in enumerate(env):
        if isinstance(entry, str) and not _ENV_ENTRY.fullmatch(entry):
            yield f"config: /config/Env/{i}: {entry!r} is not KEY=value"


def document_errors(schemas, media_type, data):
    """Every reason upstream's Validator(media_type) would reject `data` (bytes)."""
    try:
        document = parse_strict_json(data)
    except Invalid as e:
        return [str(e)]
    errors = list(go_decode_errors(GO_TYPE[media_type], document)) if media_type in GO_TYPE else []
    try:
        errors += schemas.errors(media_type, document)
    except jsonschema.RefResolutionError as e:
        errors.append(f"schema: cannot resolve a $ref: {e}")
    if media_type == DESCRIPTOR:
        errors += digest_errors(document)
    if media_type == CONFIG:
        errors += env_errors(document)
    return errors


# ---------------------------------------------------------------- reporting

class Tally:
    def __init__(self):
        self.passed = self.failed = 0

    def record(self, name, problems):
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for problem in problems:
                print(f"  {problem}")
        else:
            self.passed += 1

    def finish(self):
        print(f"oci-schema: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------- cases mode

def run_cases(conformance_dir):
    if not os.path.isdir(conformance_dir):
        print(f"SKIPPED: conformance data {conformance_dir} absent")
        return 77
    schemas = Schemas(os.path.join(conformance_dir, "schema"))
    tally = Tally()
    for case in read_tsv(os.path.join(conformance_dir, "testcases", "index.tsv")):
        problems = document_errors(schemas, case["mediatype"],
                                   read_bytes(os.path.join(conformance_dir, "testcases", case["file"])))
        tally.record(f"testcases/{case['file']} as {case['mediatype']}",
                     _verdict_problems(case["expected"], problems))
    for example in read_tsv(os.path.join(conformance_dir, "examples", "index.tsv")):
        problems = document_errors(schemas, example["mediatype"],
                                   read_bytes(os.path.join(conformance_dir, "examples", example["file"])))
        tally.record(f"examples/{example['file']} as {example['mediatype']}",
                     _verdict_problems("valid", problems))
    return tally.finish()


def _verdict_problems(expected, problems):
    if expected == "valid":
        return [f"expected valid, got invalid: {p}" for p in problems]
    if expected == "invalid":
        return [] if problems else ["expected invalid, got valid"]
    return [f"index.tsv: unknown expected verdict {expected!r}"]


# ---------------------------------------------------------------- layout mode

class Layout:
    """Walks an OCI image layout from index.json, validating every document it reaches."""

    def __init__(self, root, schemas, tally):
        self.root, self.schemas, self.tally = root, schemas, tally
        self.seen = set()

    def check_file(self, name, media_type):
        data = self._read(os.path.join(self.root, name), name)
        if data is not None:
            self.tally.record(f"{name} as {media_type}", document_errors(self.schemas, media_type, data))
        return data

    def check_descriptor(self, where, descriptor):
        data = json.dumps(descriptor).encode()
        self.tally.record(f"{where} as {DESCRIPTOR}", document_errors(self.schemas, DESCRIPTOR, data))

    def blob(self, where, descriptor):
        """The blob's bytes once its presence, size and sha256 are checked; None if not."""
        digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
        if not isinstance(digest, str) or not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
            self.tally.record(f"{where} blob", [f"digest {digest!r} is not sha256:<64 hex>, cannot find its blob"])
            return None
        name = "blobs/sha256/" + digest.split(":", 1)[1]
        path = os.path.join(self.root, name)
        problems = []
        actual, size = _sha256_file(path) if os.path.isfile(path) else (None, None)
        if actual is None:
            problems.append(f"{name} is missing")
        else:
            if actual != digest:
                problems.append(f"{name} has sha256:{actual.split(':', 1)[1]}, not its name")
            if size != descriptor.get("size"):
                problems.append(f"{name} is {size} bytes, descriptor says {descriptor.get('size')!r}")
        self.tally.record(f"{where} blob {name}", problems)
        return None if problems else read_bytes(path)

    def walk_index(self, where, data):
        index = self._parsed(data)
        for i, descriptor in enumerate(index.get("manifests") or []):
            self.walk_manifest_descriptor(f"{where} manifests[{i}]", descriptor)

    def walk_manifest_descriptor(self, where, descriptor):
        self.check_descriptor(where, descriptor)
        if not isinstance(descriptor, dict) or descriptor.get("digest") in self.seen:
            return
        self.seen.add(descriptor.get("digest"))
        data = self.blob(where, descriptor)
        media_type = descriptor.get("mediaType")
        if data is None:
            return
        if media_type == INDEX:
            self._record_blob_document(where, INDEX, data)
            self.walk_index(f"{where} ({descriptor['digest']})", data)
        elif media_type == MANIFEST:
            self._record_blob_document(where, MANIFEST, data)
            self.walk_manifest(f"{where} ({descriptor['digest']})", data)
        else:
            self.tally.record(f"{where}", [f"mediaType {media_type!r} is neither an OCI manifest nor index"])

    def walk_manifest(self, where, data):
        manifest = self._parsed(data)
        config = manifest.get("config")
        self.check_descriptor(f"{where} config", config)
        config_data = self.blob(f"{where} config", config)
        if config_data is not None and isinstance(config, dict) and config.get("mediaType") == CONFIG:
            self._record_blob_document(f"{where} config", CONFIG, config_data)
        for i, layer in enumerate(manifest.get("layers") or []):
            self.check_descriptor(f"{where} layers[{i}]", layer)
            self.blob(f"{where} layers[{i}]", layer)
        if manifest.get("subject") is not None:
            self.check_descriptor(f"{where} subject", manifest["subject"])

    def _record_blob_document(self, where, media_type, data):
        self.tally.record(f"{where} blob as {media_type}", document_errors(self.schemas, media_type, data))

    def _read(self, path, name):
        try:
            return read_bytes(path)
        except OSError as e:
            self.tally.record(name, [f"cannot read: {e.strerror}"])
            return None

    @staticmethod
    def _parsed(data):
        """The document if it parsed (its own check reports why not), else {}."""
        try:
            document = parse_strict_json(data)
        except Invalid:
            return {}
        return document if isinstance(document, dict) else {}


def _sha256_file(path):
    """(digest, size), hashed through a bounded buffer so big layers cost no memory."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def run_layout(layout_dir, conformance_dir):
    schema_dir = os.path.join(conformance_dir, "schema")
    if not os.path.isdir(schema_dir):
        print(f"SKIPPED: conformance data {conformance_dir} absent")
        return 77
    tally = Tally()
    layout = Layout(layout_dir, Schemas(schema_dir), tally)
    layout.check_file("oci-layout", LAYOUT_HEADER)
    index = layout.check_file("index.json", INDEX)
    if index is not None:
        layout.walk_index("index.json", index)
    if tally.passed + tally.failed <= 2:
        tally.record(layout_dir, ["index.json lists no manifest, nothing was checked"])
    return tally.finish()


DEFAULT_CONFORMANCE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "..", "..", "..", "shared", "conformance", "oci-image-spec")


def main(argv):
    if len(argv) == 3 and argv[1] == "cases":
        return run_cases(argv[2])
    if len(argv) == 3 and argv[1] == "layout":
        return run_layout(argv[2], DEFAULT_CONFORMANCE)
    if len(argv) == 5 and argv[1] == "layout" and argv[2] == "--conformance":
        return run_layout(argv[4], argv[3])
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
