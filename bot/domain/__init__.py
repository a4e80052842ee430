"""Domain types in plain Python: people and roles, the plan, deadlines and the school calendar.

Imports nothing of ours outside this package and nothing of aiogram (tests/test_layering.py)."""
