"""Fast JSON responses (orjson): NaN becomes null, NumPy scalars and arrays are native."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=OPTIONS)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(dumps(obj), status=status, mimetype="application/json", headers=headers)
