"""A schema-free reader for protobuf text format, the language of Caffe's `deploy.prototxt`.

Without caffe.proto we cannot know field types, so a message is read as a `Message`: field name ->
list of values in file order (repeated and optional fields alike; for an optional field the last
value wins, as in protobuf). A value is an int, a float, a str (a quoted string), an `Ident` (a
bare word: an enum value such as `MAX`, or `true`/`false`) or a nested `Message`. The typed
getters (`get_int`, `get_bool`, ...) turn them into what the caller expects and name the field and
line when they cannot.
"""
from __future__ import annotations

import re
from pathlib import Path

_TOKEN = re.compile(
    r"""
    (?P<skip>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)(?![\w.]))
  | (?P<word>[-+]?[A-Za-z_][\w.]*)
  | (?P<punct>[{}<>:\[\],;])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "?": "?"}
_CLOSE = {"{": "}", "<": ">"}
_TRUE = {"true", "True", "t", "1"}
_FALSE = {"false", "False", "f", "0"}


class PrototxtError(ValueError):
    """A prototxt that cannot be read, or a field whose value is not what it must be."""


class Ident(str):
    """A bare word in the text: an enum value (`MAX`, `ACROSS_CHANNELS`) or a boolean."""


class Message(dict):
    """field name -> [values]; `line` is where the message starts (for error messages)."""

    def __init__(self, line: int = 0, source: str = "") -> None:
        super().__init__()
        self.line = line
        self.source = source

    def where(self) -> str:
        return f"{self.source} line {self.line}" if self.source else f"line {self.line}"

    def add(self, key: str, value: object) -> None:
        self.setdefault(key, []).append(value)

    def all(self, key: str) -> list:
        return list(self.get(key, []))

    def last(self, key: str, default: object = None) -> object:
        values = self.get(key)
        return values[-1] if values else default

    def message(self, key: str) -> Message:
        """A nested message, or an empty one when the field is absent (protobuf's default)."""
        value = self.last(key)
        if value is None:
            return Message(self.line, self.source)
        if not isinstance(value, Message):
            raise PrototxtError(f"{self.where()}: {key} must be a {{ ... }} block")
        return value

    def messages(self, key: str) -> list[Message]:
        values = self.all(key)
        for v in values:
            if not isinstance(v, Message):
                raise PrototxtError(f"{self.where()}: {key} must be a {{ ... }} block")
        return values

    # -- typed getters: the last value, converted; `default` when absent -----------------
    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.last(key)
        return default if value is None else self._int(key, value)

    def get_ints(self, key: str) -> list[int]:
        return [self._int(key, v) for v in self.all(key)]

    def get_float(self, key: str, default: float | None = None) -> float | None:
        value = self.last(key)
        return default if value is None else self._float(key, value)

    def get_floats(self, key: str) -> list[float]:
        return [self._float(key, v) for v in self.all(key)]

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.last(key)
        if value is None:
            return default
        text = str(value)
        if isinstance(value, (Ident, int)) and text in _TRUE:
            return True
        if isinstance(value, (Ident, int)) and text in _FALSE:
            return False
        raise PrototxtError(f"{self.where()}: {key} must be true or false, not {value!r}")

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self.last(key)
        if value is None:
            return default
        if isinstance(value, Message):
            raise PrototxtError(f"{self.where()}: {key} must be a value, not a block")
        return str(value)

    def get_enum(self, key: str, names: dict[str, int] | tuple[str, ...], default: str) -> str:
        """An enum field as its name; accepts the name or its number (`pool: 1` is AVE)."""
        value = self.last(key)
        if value is None:
            return default
        if isinstance(names, tuple):
            names = {n: i for i, n in enumerate(names)}
        if isinstance(value, str) and value in names:
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            for name, number in names.items():
                if number == value:
                    return name
        raise PrototxtError(f"{self.where()}: {key} is {value!r}; expected one of "
                            f"{', '.join(names)}")

    def _int(self, key: str, value: object) -> int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise PrototxtError(f"{self.where()}: {key} must be an integer, not {value!r}")

    def _float(self, key: str, value: object) -> float:
        if isinstance(value, Ident) and value.lstrip("+-").lower() in ("inf", "infinity", "nan"):
            return float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise PrototxtError(f"{self.where()}: {key} must be a number, not {value!r}")


def parse_file(path: str | Path) -> Message:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise PrototxtError(f"cannot read {path}: {e.strerror or e}") from None
    return parse(text, source=path.name)


def parse(text: str, source: str = "") -> Message:
    """Parse protobuf text format into a `Message`. Raises `PrototxtError` with the line."""
    tokens = _tokenize(text, source)
    root = Message(1, source)
    pos = _parse_fields(tokens, 0, root, None, source)
    if pos != len(tokens):  # a stray closing brace
        raise PrototxtError(_at(source, tokens[pos][2], f"unexpected {tokens[pos][1]!r}"))
    return root


# --- internals ------------------------------------------------------------------------------
Token = tuple[str, object, int]  # kind, value, line


def _at(source: str, line: int, message: str) -> str:
    return f"{source + ' ' if source else ''}line {line}: {message}"


def _tokenize(text: str, source: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PrototxtError(_at(source, line, f"unexpected character {text[pos]!r}"))
        kind, raw = m.lastgroup, m.group()
        if kind == "string":
            value: object = _unquote(raw[1:-1], source, line)
            if tokens and tokens[-1][0] == "string":  # "a" "b" is one string, as in C
                value = tokens.pop()[1] + value  # type: ignore[operator]
            tokens.append(("string", value, line))
        elif kind == "number":
            tokens.append(("number", _number(raw), line))
        elif kind == "word":
            tokens.append(("word", Ident(raw), line))
        elif kind == "punct":
            tokens.append(("punct", raw, line))
        line += raw.count("\n")
        pos = m.end()
    return tokens


def _number(raw: str) -> int | float:
    text = raw.rstrip("fF") if not raw.lower().startswith(("0x", "-0x", "+0x")) else raw
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", text):
        return int(text, 16)
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    return float(text)


def _unquote(body: str, source: str, line: int) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1:]).group()  # type: ignore[union-attr]
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        elif nxt in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            if digits is None:
                raise PrototxtError(_at(source, line, "bad \\x escape in a string"))
            out.append(chr(int(digits.group(), 16)))
            i += 2 + len(digits.group())
        else:
            raise PrototxtError(_at(source, line, f"unknown escape \\{nxt} in a string"))
    return "".join(out)


def _parse_fields(tokens: list[Token], pos: int, msg: Message, close: str | None,
                  source: str) -> int:
    """Read `name: value` / `name { ... }` pairs into msg until `close` (or the end)."""
    while pos < len(tokens):
        kind, value, line = tokens[pos]
        if kind == "punct" and value == close:
            return pos + 1
        if kind == "punct" and value in (",", ";"):
            pos += 1
            continue
        if kind != "word":
            raise PrototxtError(_at(source, line, f"expected a field name, found {value!r}"))
        name = str(value)
        pos += 1
        if pos >= len(tokens):
            raise PrototxtError(_at(source, line, f"{name!r} has no value"))
        has_colon = tokens[pos][:2] == ("punct", ":")
        if has_colon:
            pos += 1
            if pos >= len(tokens):
                raise PrototxtError(_at(source, line, f"{name!r} has no value"))
        kind, value, vline = tokens[pos]
        if kind == "punct" and value in _CLOSE:
            sub = Message(vline, source)
            pos = _parse_fields(tokens, pos + 1, sub, _CLOSE[value], source)  # type: ignore[index]
            msg.add(name, sub)
        elif not has_colon:
            raise PrototxtError(_at(source, line, f"expected ':' or '{{' after {name!r}"))
        elif kind == "punct" and value == "[":
            pos = _parse_list(tokens, pos + 1, msg, name, source)
            continue
        elif kind in ("string", "number", "word"):
            msg.add(name, value)
            pos += 1
        else:
            raise PrototxtError(_at(source, vline, f"expected a value for {name!r}, "
                                                   f"found {value!r}"))
    if close is not None:
        raise PrototxtError(_at(source, msg.line, f"block opened here is never closed "
                                                  f"(missing {close!r})"))
    return pos


def _parse_list(tokens: list[Token], pos: int, msg: Message, name: str, source: str) -> int:
    """`name: [1, 2, 3]` or `name: [{...}, {...}]`, after the '['."""
    expect_value = True
    while pos < len(tokens):
        kind, value, line = tokens[pos]
        if kind == "punct" and value == "]":
            return pos + 1
        if kind == "punct" and value == "," and not expect_value:
            expect_value = True
            pos += 1
            continue
        if not expect_value:
            raise PrototxtError(_at(source, line, f"expected ',' or ']' in the list {name!r}"))
        if kind == "punct" and value in _CLOSE:
            sub = Message(line, source)
            pos = _parse_fields(tokens, pos + 1, sub, _CLOSE[value], source)  # type: ignore[index]
            msg.add(name, sub)
        elif kind in ("string", "number", "word"):
            msg.add(name, value)
            pos += 1
        else:
            raise PrototxtError(_at(source, line, f"unexpected {value!r} in the list {name!r}"))
        expect_value = False
    raise PrototxtError(_at(source, tokens[-1][2] if tokens else 1,
                            f"the list {name!r} is never closed (missing ']')"))
