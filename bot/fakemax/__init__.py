"""A fake MAX Bot API HTTP server for end-to-end tests and the sandbox, checked against the official schema.

The bot (aiogram with ``bot.max.MaxSession``) talks to it over HTTP on 127.0.0.1 exactly as it talks to
MAX. Typical use::

    async with FakeMax() as mx:
        bot = make_max_bot(mx.token, mx.base_url, bot_id=mx.bot_id)
        olga = mx.user(7001, "Ольга")
        await olga.start("link-token")             # bot_started with a deep-link payload
        reply = await mx.wait_for(olga.id, lambda m: "Здравствуйте" in m.plain)
        await olga.press(reply, "Далее")            # callback button by text or payload

What it enforces (each refusal is MAX's Error body ``{"code", "message"}``):
- every request matches an operation of the vendored schema (tests/data/max/schema.yaml, v0.0.33):
  path and query parameters parsed and typed, the JSON body checked against the requestBody schema,
  discriminators (attachment, button and update types) followed; otherwise 400 ``proto.payload``;
- the ``Authorization`` header carries the token, and only it: a token in the query is refused (401
  ``verify.token``);
- 30 requests per second (429 ``too.many.requests``), every operation counted;
- text up to 4000 characters as sent, markup included (the schema's NewMessageBody.text maxLength);
- a message needs text or attachments; a file is the only file or picture of its message (buttons
  may go with it);
- uploads are the two-step /uploads + upload URL flow; a fresh upload stays ``attachment.not.ready``
  for ``upload_processing`` seconds of the fake's clock (``not_ready_sends`` refuses the next N
  sends outright);
- an edit's ``attachments`` replace the message's: ``[]`` deletes its picture or file, as on MAX;
- ``fail_next`` forces 5xx answers or dropped connections; ``server_ssl`` serves HTTPS;
- updates by long polling or webhook, never both (``bot.fakemax.webhooks``): a poll without a
  ``marker`` gets only the newest update; while a subscription (HTTPS only, unless
  ``allow_http_webhooks``) is active polling gets nothing, and each update is POSTed with the
  ``X-Max-Bot-Api-Secret`` header, again until answered 200.
Every answer is checked against the response schema of its operation and status; a violation lands in
``response_violations`` (and the answer becomes a 500), so tests assert that list stays empty.
"""

from bot.fakemax.models import MaxMessage, RecordedRequest, Stats, StoredFile, plain_text
from bot.fakemax.refusals import MaxApiError
from bot.fakemax.schema import SCHEMA_VERSION, MaxSchema, SchemaViolation, load_schema
from bot.fakemax.server import FakeMax
from bot.fakemax.state import DIALOG_CHAT_BASE
from bot.fakemax.user import FakeMaxUser

__all__ = [
    "DIALOG_CHAT_BASE",
    "SCHEMA_VERSION",
    "FakeMax",
    "FakeMaxUser",
    "MaxApiError",
    "MaxMessage",
    "MaxSchema",
    "RecordedRequest",
    "SchemaViolation",
    "Stats",
    "StoredFile",
    "load_schema",
    "plain_text",
]
