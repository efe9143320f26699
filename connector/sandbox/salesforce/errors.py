"""REST error replies of the Salesforce emulator and the non-JSON reply body.

Why a module of its own: the REST handler, sign-in and Bulk API 2.0 all answer errors in the
REST API's documented shape (*Status Codes and Error Responses*: a JSON list of
``{"message", "errorCode", "fields"?}``), and sign-in and Bulk API 2.0 also answer bodies that
are not JSON (SOAP XML, CSV) with headers of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["HttpError", "Raw", "not_found"]


class HttpError(Exception):
    """Raised anywhere below the handler; answered as ``[{"message", "errorCode", …}]``."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


def not_found() -> HttpError:
    return HttpError(404, "NOT_FOUND", "The requested resource does not exist")


@dataclass(frozen=True, slots=True)
class Raw:
    """A reply body sent as is (SOAP XML, CSV), with its content type and extra headers."""

    data: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
