"""Schema-constrained JSON decoding: which tokens may come next so the answer parses and validates.

A byte-level pushdown parser for the JSON Schema subset the minutes use: objects with properties
(emitted in schema order, optional ones may be skipped, nothing extra), arrays with items,
minItems and maxItems, strings, numbers, integers, booleans, null, enum / const, anyOf and type
lists. Output is compact (no whitespace between tokens), and strings use no `\\u` escapes.

The answer also always fits the token budget: a token is only allowed when the shortest way to
close the JSON after it still fits into the tokens left (each byte exists as a single token in
byte-level and byte-fallback vocabularies), so a truncated answer cannot happen.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from typing import Any

# --- compiled schema -------------------------------------------------------------------------


class SchemaNotSupportedError(ValueError):
    """The schema uses a construct this decoder does not implement."""


@dataclass(frozen=True, eq=False)
class Node:
    kind: str  # object, array, string, number, integer, literal, union
    props: tuple[tuple[bytes, Node], ...] = ()  # object: (b'"name":', value)
    required: tuple[bool, ...] = ()
    item: Node | None = None
    min_items: int = 0
    max_items: int | None = None
    choices: tuple[bytes, ...] = ()  # literal: serialized JSON values
    branches: tuple[Node, ...] = ()  # union


# Keywords that restrict valid values beyond what the parser tracks: refused rather than ignored,
# so an answer can never break the schema unnoticed.
_UNSUPPORTED = frozenset(
    {
        "$ref",
        "allOf",
        "not",
        "if",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "uniqueItems",
        "prefixItems",
        "contains",
        "patternProperties",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
    }
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compile_schema(schema: dict[str, Any]) -> Node:
    """Raise SchemaNotSupportedError for what the decoder cannot guarantee."""
    unknown = _UNSUPPORTED & set(schema)
    if unknown:
        raise SchemaNotSupportedError(f"unsupported keywords {sorted(unknown)}")
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        choices = tuple(dict.fromkeys(_dump(v) for v in values))
        if not choices:
            raise SchemaNotSupportedError("empty enum")
        for a in choices:
            if any(b != a and b.startswith(a) for b in choices):
                raise SchemaNotSupportedError(f"enum value {a!r} is a prefix of another")
        return Node("literal", choices=choices)
    if "anyOf" in schema or "oneOf" in schema:
        return _union([compile_schema(s) for s in schema.get("anyOf") or schema.get("oneOf") or []])
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([compile_schema({**schema, "type": k}) for k in kind])
    if kind == "object":
        names = list(schema.get("properties", {}))
        required = set(schema.get("required", []))
        if not required <= set(names):
            raise SchemaNotSupportedError("a required property is not among the properties")
        props = tuple((_dump(n) + b":", compile_schema(schema["properties"][n])) for n in names)
        return Node("object", props=props, required=tuple(n in required for n in names))
    if kind == "array":
        item = compile_schema(schema.get("items", {"type": "string"}))
        return Node(
            "array",
            item=item,
            min_items=schema.get("minItems", 0),
            max_items=schema.get("maxItems"),
        )
    if kind in ("string", "number", "integer"):
        return Node(kind)
    if kind == "boolean":
        return Node("literal", choices=(b"true", b"false"))
    if kind == "null":
        return Node("literal", choices=(b"null",))
    raise SchemaNotSupportedError(f"unsupported schema: {json.dumps(schema)[:200]}")


def _first_bytes(node: Node) -> frozenset[int]:
    if node.kind == "object":
        return frozenset(b"{")
    if node.kind == "array":
        return frozenset(b"[")
    if node.kind == "string":
        return frozenset(b'"')
    if node.kind in ("number", "integer"):
        return frozenset(b"-0123456789")
    if node.kind == "literal":
        return frozenset(c[0] for c in node.choices)
    return frozenset().union(*(_first_bytes(b) for b in node.branches))


def _union(branches: list[Node]) -> Node:
    seen: set[int] = set()
    for branch in branches:
        first = _first_bytes(branch)
        if seen & first:
            raise SchemaNotSupportedError("anyOf branches that begin alike are not supported")
        seen |= first
    return Node("union", branches=tuple(branches))


# --- shortest completions, for the token budget ------------------------------------------------


@cache
def _shortest(node: Node) -> bytes:
    """The shortest valid JSON text of `node`."""
    if node.kind == "object":
        return b"{" + _obj_open(node, 0)
    if node.kind == "array":
        return b"[" + _arr_rest(node, 0, after_value=False)
    if node.kind == "string":
        return b'""'
    if node.kind in ("number", "integer"):
        return b"0"
    if node.kind == "literal":
        return min(node.choices, key=len)
    return min((_shortest(b) for b in node.branches), key=len)


def _candidates(node: Node, start: int) -> range:
    """Properties that may come next: up to and including the next required one."""
    end = start
    while end < len(node.props) and not node.required[end]:
        end += 1
    return range(start, min(end + 1, len(node.props)))


@cache
def _key_part(node: Node, start: int) -> bytes:
    options = [
        node.props[i][0] + _shortest(node.props[i][1]) + _obj_after_value(node, i + 1)
        for i in _candidates(node, start)
    ]
    return min(options, key=len)


def _obj_after_value(node: Node, start: int) -> bytes:
    if not any(node.required[start:]):
        return b"}"
    return b"," + _key_part(node, start)


def _obj_open(node: Node, start: int) -> bytes:
    return b"}" if not any(node.required[start:]) else _key_part(node, start)


def _arr_rest(node: Node, count: int, *, after_value: bool) -> bytes:
    """Close an array that has `count` items; `after_value`: the last item is complete."""
    assert node.item is not None
    missing = max(0, node.min_items - count)
    item = _shortest(node.item)
    if missing == 0:
        return b"]"
    items = b",".join([item] * missing)
    return (b"," if after_value else b"") + items + b"]"


# --- parser state ---------------------------------------------------------------------------
# A state is a tuple of frames, the innermost last. Frames are tuples so that states are cheap to
# branch while searching the vocabulary:
#   ("value", node)                      a value of `node` begins here
#   ("obj", node, next_prop, phase)      phase: "open" | "value" (after a value) | "comma"
#   ("key", node, candidates, matched)   inside a property name; candidates are property indexes
#   ("arr", node, count, phase)          phase: "open" | "value" | "comma"
#   ("str", pending, lo, hi, escape)     pending UTF-8 continuation bytes; next one in [lo, hi]
#   ("lit", choices, matched)
#   ("num", integer, phase, length)

Frame = tuple[Any, ...]
State = tuple[Frame, ...]

_MAX_NUMBER_BYTES = 24
_NUM_DONE = frozenset({"zero", "int", "frac", "exp"})
_ESCAPES = frozenset(b'"\\/bfnrt')


def initial_state(node: Node) -> State:
    return (("value", node),)


def is_complete(state: State) -> bool:
    """Nothing is left to write (a top-level number could still go on)."""
    return not state or (len(state) == 1 and state[0][0] == "num" and state[0][2] in _NUM_DONE)


def feed(state: State, byte: int) -> State | None:
    """The state after `byte`, or None when the byte breaks the JSON or the schema."""
    while state:
        frame = state[-1]
        rest = state[:-1]
        kind = frame[0]
        if kind == "value":
            return _start_value(rest, frame[1], byte)
        if kind == "str":
            return _feed_str(rest, frame, byte)
        if kind == "lit":
            choices, matched = frame[1], frame[2]
            left = tuple(c for c in choices if len(c) > matched and c[matched] == byte)
            if not left:
                return None
            if len(left) == 1 and len(left[0]) == matched + 1:
                return rest
            return (*rest, ("lit", left, matched + 1))
        if kind == "key":
            return _feed_key(rest, frame, byte)
        if kind == "obj":
            return _feed_obj(rest, frame, byte)
        if kind == "arr":
            return _feed_arr(rest, frame, byte)
        if kind == "num":
            moved = _feed_num(frame, byte)
            if moved is not None:
                return (*rest, moved)
            if frame[2] not in _NUM_DONE:
                return None
            state = rest  # the number ended; the byte belongs to the enclosing value
            continue
        raise AssertionError(kind)
    return None  # the JSON is complete: nothing may follow


def _start_value(rest: State, node: Node, byte: int) -> State | None:
    kind = node.kind
    if kind == "object":
        return (*rest, ("obj", node, 0, "open")) if byte == ord("{") else None
    if kind == "array":
        return (*rest, ("arr", node, 0, "open")) if byte == ord("[") else None
    if kind == "string":
        return (*rest, ("str", 0, 0, 0, False)) if byte == ord('"') else None
    if kind in ("number", "integer"):
        moved = _feed_num(("num", kind == "integer", "start", 0), byte)
        return None if moved is None else (*rest, moved)
    if kind == "literal":
        return feed((*rest, ("lit", node.choices, 0)), byte)
    for branch in node.branches:
        if byte in _first_bytes(branch):
            return _start_value(rest, branch, byte)
    return None


def _feed_str(rest: State, frame: Frame, byte: int) -> State | None:
    _, pending, lo, hi, escape = frame
    if pending:
        if not lo <= byte <= hi:
            return None
        return (*rest, ("str", pending - 1, 0x80, 0xBF, False))
    if escape:
        return (*rest, ("str", 0, 0, 0, False)) if byte in _ESCAPES else None
    if byte == ord('"'):
        return rest
    if byte == ord("\\"):
        return (*rest, ("str", 0, 0, 0, True))
    if byte < 0x20:
        return None
    if byte < 0x80:
        return (*rest, frame)
    # UTF-8 lead bytes, excluding overlong forms, surrogates and code points past U+10FFFF.
    if 0xC2 <= byte <= 0xDF:
        return (*rest, ("str", 1, 0x80, 0xBF, False))
    if byte == 0xE0:
        return (*rest, ("str", 2, 0xA0, 0xBF, False))
    if 0xE1 <= byte <= 0xEC or byte in (0xEE, 0xEF):
        return (*rest, ("str", 2, 0x80, 0xBF, False))
    if byte == 0xED:
        return (*rest, ("str", 2, 0x80, 0x9F, False))
    if byte == 0xF0:
        return (*rest, ("str", 3, 0x90, 0xBF, False))
    if 0xF1 <= byte <= 0xF3:
        return (*rest, ("str", 3, 0x80, 0xBF, False))
    if byte == 0xF4:
        return (*rest, ("str", 3, 0x80, 0x8F, False))
    return None


def _feed_key(rest: State, frame: Frame, byte: int) -> State | None:
    _, node, candidates, matched = frame
    left = tuple(
        i
        for i in candidates
        if len(node.props[i][0]) > matched and node.props[i][0][matched] == byte
    )
    if not left:
        return None
    index = left[0]
    if len(left) == 1 and len(node.props[index][0]) == matched + 1:
        # Property names are quoted, so a complete key is never a prefix of another.
        obj = rest[-1]
        return (*rest[:-1], ("obj", obj[1], index + 1, "value"), ("value", node.props[index][1]))
    return (*rest, ("key", node, left, matched + 1))


def _feed_obj(rest: State, frame: Frame, byte: int) -> State | None:
    _, node, start, phase = frame
    closable = not any(node.required[start:])
    if byte == ord("}"):
        return rest if closable and phase != "comma" else None
    if phase == "value":
        if byte == ord(",") and start < len(node.props):
            return (*rest, ("obj", node, start, "comma"))
        return None
    if start >= len(node.props):
        return None
    key = ("key", node, tuple(_candidates(node, start)), 0)
    return _feed_key((*rest, ("obj", node, start, "key")), key, byte)


def _feed_arr(rest: State, frame: Frame, byte: int) -> State | None:
    _, node, count, phase = frame
    if byte == ord("]"):
        return rest if count >= node.min_items and phase != "comma" else None
    if phase == "value":
        room = node.max_items is None or count < node.max_items
        return (*rest, ("arr", node, count, "comma")) if byte == ord(",") and room else None
    if node.max_items is not None and count >= node.max_items:
        return None
    return _start_value((*rest, ("arr", node, count + 1, "value")), node.item, byte)


def _feed_num(frame: Frame, byte: int) -> Frame | None:
    _, integer, phase, length = frame
    if length >= _MAX_NUMBER_BYTES:
        return None
    digit = ord("0") <= byte <= ord("9")
    nxt: str | None = None
    if phase in ("start", "minus"):
        if phase == "start" and byte == ord("-"):
            nxt = "minus"
        elif digit:
            nxt = "zero" if byte == ord("0") else "int"
    elif phase == "int" and digit:
        nxt = "int"
    elif phase in ("zero", "int") and not integer and byte == ord("."):
        nxt = "dot"
    elif phase in ("zero", "int", "frac") and not integer and byte in b"eE":
        nxt = "e"
    elif phase in ("dot", "frac") and digit:
        nxt = "frac"
    elif phase == "e" and byte in b"+-":
        nxt = "esign"
    elif phase in ("e", "esign", "exp") and digit:
        nxt = "exp"
    return None if nxt is None else ("num", integer, nxt, length + 1)


def shortest_completion(state: State) -> bytes:
    """The fewest bytes that finish the JSON from `state`."""
    out = b""
    for frame in reversed(state):
        kind = frame[0]
        if kind == "value":
            out += _shortest(frame[1])
        elif kind == "str":
            _, pending, lo, _, escape = frame
            out += (bytes([lo] + [0x80] * (pending - 1)) if pending else b"") + (
                b'n"' if escape else b'"'
            )
        elif kind == "lit":
            out += min((c[frame[2] :] for c in frame[1]), key=len)
        elif kind == "key":
            node, matched = frame[1], frame[3]
            out += min(
                (
                    node.props[i][0][matched:]
                    + _shortest(node.props[i][1])
                    + _obj_after_value(node, i + 1)
                    for i in frame[2]
                ),
                key=len,
            )
        elif kind == "obj":
            _, node, start, phase = frame
            if phase == "open":
                out += _obj_open(node, start)
            elif phase == "value":
                out += _obj_after_value(node, start)
            elif phase == "comma":
                out += _key_part(node, start)
            # phase "key": the key frame above already closed this object.
        elif kind == "arr":
            _, node, count, phase = frame
            if phase == "comma":
                out += _shortest(node.item) + _arr_rest(node, count + 1, after_value=True)
            else:
                out += _arr_rest(node, count, after_value=phase == "value")
        elif kind == "num":
            out += b"" if frame[2] in _NUM_DONE else b"0"
    return out


# --- vocabulary search ---------------------------------------------------------------------


def _is_plain_text(piece: bytes) -> bool:
    """A token that may go anywhere inside a string: whole characters, nothing to escape."""
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch not in '"\\' and ord(ch) >= 0x20 for ch in text)


class _SortedVocab:
    """Token byte strings in sorted order; the tokens sharing a prefix form one slice."""

    def __init__(self, pieces: dict[bytes, list[int]]) -> None:
        self.keys = sorted(pieces)
        self.ids = [pieces[k] for k in self.keys]


class TokenConstraint:
    """Allowed next tokens for a schema over one tokenizer's vocabulary."""

    def __init__(self, token_bytes: list[bytes | None]) -> None:
        everything: dict[bytes, list[int]] = {}
        special: dict[bytes, list[int]] = {}
        plain: list[int] = []
        for token_id, piece in enumerate(token_bytes):
            if not piece:
                continue
            everything.setdefault(piece, []).append(token_id)
            if _is_plain_text(piece):
                plain.append(token_id)
            else:
                special.setdefault(piece, []).append(token_id)
        self.vocab_size = len(token_bytes)
        self.token_bytes = token_bytes
        self._all = _SortedVocab(everything)
        self._special = _SortedVocab(special)
        self.plain_ids = plain

    def allowed(self, state: State, budget: int) -> list[int]:
        """Tokens after which the JSON is still valid and can be closed in `budget` - 1 tokens.

        Inside a string, plain-text tokens keep the state as it is, so they are taken as a block
        and only the other tokens are searched.
        """
        if is_complete(state) and not state:
            return []
        out: list[int] = []
        top = state[-1]
        in_plain_string = top[0] == "str" and not top[1] and not top[4]
        vocab = self._special if in_plain_string else self._all
        if in_plain_string and len(shortest_completion(state)) <= budget - 1:
            out.extend(self.plain_ids)
        self._search(vocab, 0, len(vocab.keys), 0, state, budget, out)
        return out

    def _search(
        self,
        vocab: _SortedVocab,
        lo: int,
        hi: int,
        depth: int,
        state: State,
        budget: int,
        out: list[int],
    ) -> None:
        keys = vocab.keys
        if lo < hi and len(keys[lo]) == depth:
            if len(shortest_completion(state)) <= budget - 1:
                out.extend(vocab.ids[lo])
            lo += 1
        while lo < hi:
            byte = keys[lo][depth]
            prefix = keys[lo][: depth + 1]
            end = bisect_left(keys, prefix[:-1] + bytes([byte + 1]), lo, hi) if byte < 255 else hi
            moved = feed(state, byte)
            if moved is not None:
                self._search(vocab, lo, end, depth + 1, moved, budget, out)
            lo = end
