"""The `twilio` REST client, sending through our one HTTP boundary (channels_in.http).

Tests then see the exact request Twilio would receive (URL, form body, Basic auth)
on the `http_mock` fixture, and production gets httpx's timeouts.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels_in import http
from channels_in.base import ChannelError
from channels_in.twilio import errors

log = logging.getLogger(__name__)


class HttpxClient(HttpClient):
    """A twilio.http.HttpClient that sends through channels_in.http.client()."""

    def __init__(self, timeout: float = 15.0) -> None:
        super().__init__(log, is_async=False, timeout=timeout)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        try:
            with http.client(timeout=timeout or self.timeout or 15.0) as client:
                response = client.request(
                    method.upper(),
                    uri,
                    params=params,  # type: ignore[arg-type]
                    data=data,
                    headers=headers,
                    auth=auth,
                    follow_redirects=allow_redirects,
                )
        except httpx.HTTPError as exc:
            # Network trouble is temporary: the send task retries with backoff.
            raise ChannelError(f"Twilio could not be reached: {exc}") from exc
        return Response(response.status_code, response.text, response.headers)


def rest_client(account_sid: str, auth_token: str) -> Client:
    return Client(account_sid, auth_token, http_client=HttpxClient())


def channel_error(exc: TwilioRestException) -> ChannelError:
    """Twilio's refusal as a ChannelError: 429 and 5xx are retried, the rest are not."""
    status = int(exc.status or 0)
    code: Any = exc.code
    text = errors.reason(code, str(exc.msg or ""))
    temporary = status == 429 or status >= 500 or code in (30001, 30008)
    permanent = not temporary or code in errors.PERMANENT_CODES
    return ChannelError(text, permanent=permanent, status=status or 400)
