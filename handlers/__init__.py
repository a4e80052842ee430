"""One Router per capability, built fresh by each module's `build_router()` so that several
Dispatchers (tests, the sandbox) can exist in one process. Which routers the bot has, in which
order, is declared in bot/capabilities.py."""
