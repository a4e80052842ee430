"""The Telegram-facing package: callback data, keyboards, notice rendering, the outbox sender and
its send limiter, middlewares, filters, the menu and FSM storage.

Services know nothing of aiogram; what they need from the wire they ask through the Protocols in
`bot.services.ports`, which this package implements."""
