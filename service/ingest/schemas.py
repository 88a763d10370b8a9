"""Request models for events and catalogue records (shared by API and CLI)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from service.ingest import recid

M = TypeVar("M", bound=BaseModel)

# Ids become unique-constrained graph keys: control characters crashed FalkorDB
# 4.16.3's constraint check, so they are refused here, at the edge.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The same rule as a pydantic pattern (checked in Rust, for the event fields).
ID_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_ATTR_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


def check_id(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def check_text(value: str) -> str:
    """Free text: no NUL, and encodable as UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (lone surrogate found)") from None
    return value


def _check_attr_value(value: Any, path: str) -> None:
    if isinstance(value, str):
        try:
            check_text(value)
        except ValueError as exc:
            raise ValueError(f"attributes.{path} {exc}") from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"attributes.{path} must be a finite number")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            _check_attr_value(v, f"{path}[{n}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_attr_value(k, path)
            _check_attr_value(v, f"{path}.{k}")


_MAX_TS_MS = 32_503_680_000_000  # year 3000: beyond that it is a unit mistake


class EventIn(BaseModel):
    """One behaviour event. `ts` is epoch milliseconds or an ISO 8601 string."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Ids are checked by pydantic-core itself (no Python call per field: the
    # ingest hot path): the pattern refuses control characters, and lone
    # surrogates fail its UTF-8 conversion; `describe` words both errors.
    event_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=ID_PATTERN,
        description="Client-chosen unique id; resending it is a no-op.",
    )
    user_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    item_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    type: str = Field(
        min_length=1, max_length=50, pattern=ID_PATTERN, description="view, click, cart, purchase, rating, ..."
    )
    ts: int | datetime = Field(description="Epoch milliseconds, or ISO 8601 (UTC if no offset).")
    weight: float | None = Field(None, description="Overrides the type's weight; required for ratings.")
    rec_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=ID_PATTERN,
        description="The `rec_id` of the served answer this event reports on (impression, click, ...).",
    )
    position: int | None = Field(None, ge=1, le=1000, description="1-based position of the item in that answer.")

    @field_validator("ts", mode="before")
    @classmethod
    def _digits_are_ms(cls, v: Any) -> Any:
        # "1700000000000" is epoch ms from JSON text (ingest FILE) as from a parsed
        # body (the API): JSON mode would otherwise read a digit string as a datetime
        if isinstance(v, str) and v.strip().isdigit():
            return int(v.strip())
        return v

    @field_validator("ts")
    @classmethod
    def _ts_ms(cls, v: int | datetime) -> int:
        if isinstance(v, datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=UTC)
            v = int(v.timestamp() * 1000)
        if v < 0 or v > _MAX_TS_MS:
            raise ValueError("must be epoch milliseconds between 1970 and 3000 (or an ISO 8601 string)")
        return v

    @field_validator("weight")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v < 0):
            raise ValueError("must be a finite number >= 0")
        return v

    @field_validator("rec_id")
    @classmethod
    def _issued(cls, v: str | None) -> str | None:
        if v is not None:
            recid.decode(v)
        return v

    @property
    def ts_ms(self) -> int:
        assert isinstance(self.ts, int)
        return self.ts


RELATION_TYPES = ("follow", "unfollow", "friend", "unfriend")


class RelationIn(BaseModel):
    """One user-user relation event: `follow`/`unfollow` (directed) or `friend`/`unfriend`
    (symmetric), with `target_user_id` in place of `item_id`. Same `event_id` and `ts`
    rules as EventIn; `weight` (default 1) is the tie's strength while it lasts."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    user_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    target_user_id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    type: str = Field(description="follow, unfollow, friend or unfriend")
    ts: int | datetime = Field(description="Epoch milliseconds, or ISO 8601 (UTC if no offset).")
    weight: float | None = Field(None, description="The tie's strength (default 1).")

    _digits_are_ms = field_validator("ts", mode="before")(EventIn._digits_are_ms.__func__)  # type: ignore[attr-defined]
    _ts_ms = field_validator("ts")(EventIn._ts_ms.__func__)  # type: ignore[attr-defined]
    _finite = field_validator("weight")(EventIn._finite.__func__)  # type: ignore[attr-defined]

    @field_validator("type")
    @classmethod
    def _relation_type(cls, v: str) -> str:
        if v not in RELATION_TYPES:
            raise ValueError(f"unknown relation type {v!r} (known: {', '.join(RELATION_TYPES)})")
        return v

    @field_validator("target_user_id")
    @classmethod
    def _not_self(cls, v: str, info: Any) -> str:
        if v == info.data.get("user_id"):
            raise ValueError("a user cannot follow or befriend themselves")
        return v

    @property
    def ts_ms(self) -> int:
        assert isinstance(self.ts, int)
        return self.ts


def is_relation(record: Any) -> bool:
    """A record in an event batch or file is a relation when it names a target user."""
    return isinstance(record, dict) and "target_user_id" in record


class ItemIn(BaseModel):
    """A catalogue record: the item's current title, interests and attributes."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: str = Field(min_length=1, max_length=200)
    title: str | None = Field(None, max_length=1000)
    # free text for the text encoder (training.text); kept as the string attribute `description`
    description: str | None = Field(None, max_length=20_000)
    interests: list[str] = Field(default_factory=list, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _description_attribute(self) -> ItemIn:
        if self.description:
            self.attributes = {**self.attributes, "description": check_text(self.description)}
        return self

    @field_validator("interests")
    @classmethod
    def _interest_ids(cls, v: list[str]) -> list[str]:
        out = [s.strip() for s in v]
        if any(not s or len(s) > 200 for s in out):
            raise ValueError("interest ids must be non-empty strings of at most 200 characters")
        for s in out:
            check_text(check_id(s))
        return list(dict.fromkeys(out))

    @field_validator("item_id")
    @classmethod
    def _item_id(cls, v: str) -> str:
        return check_text(check_id(v))

    @field_validator("title")
    @classmethod
    def _title(cls, v: str | None) -> str | None:
        return None if v is None else check_text(v)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            if not _ATTR_KEY.match(key):
                raise ValueError(
                    f"attribute name {key!r} must start with a letter or _ and use only letters, digits and _ "
                    "(at most 64 characters)"
                )
            _check_attr_value(value, key)
        return v


def describe(exc: ValidationError) -> str:
    """One line naming each bad field: `ts: must be epoch milliseconds ...`."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in {"int", "datetime"}))
        if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == ID_PATTERN:
            msg = "must not contain control characters"
        elif err["type"] == "string_unicode":
            msg = "must be valid Unicode text (lone surrogate found)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(dict.fromkeys(parts))


@cache
def _list_of(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def validate_all(model: type[M], raw: list[Any]) -> tuple[list[tuple[int, M]], list[dict[str, Any]]]:
    """validate_each's answer, with the usual case (every record valid) in one pydantic
    call over the whole list: per-record calls cost about 40 % more (bench/parse.py).
    When any record is bad, the records are validated one by one again, so that the
    good ones go on and each refusal is worded by validate_each."""
    try:
        return list(enumerate(_list_of(model).validate_python(raw))), []
    except ValidationError:
        return validate_each(model, raw)


def validate_each(model: type[M], raw: list[Any]) -> tuple[list[tuple[int, M]], list[dict[str, Any]]]:
    """Validate records one by one: good ones go on, bad ones are reported by index."""
    good: list[tuple[int, M]] = []
    bad: list[dict[str, Any]] = []
    for index, record in enumerate(raw):
        if not isinstance(record, dict):
            bad.append({"index": index, "error": f"must be a JSON object, got {type(record).__name__}"})
            continue
        try:
            good.append((index, model.model_validate(record)))
        except ValidationError as exc:
            bad.append({"index": index, "error": describe(exc)})
    return good, bad
