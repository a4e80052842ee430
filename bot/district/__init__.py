"""A district (#27): one service holding many schools, each on a store of its own.

`schools.py` (no messenger: the `schoolbot district …` commands use it) derives each school's
settings from the district's and builds its `Core`; `runtime.py` builds the running bots' side:
every school's `App` and the district role's dispatcher pieces. storage/district.py argues the
store-per-school design; bot/services/district.py holds the district's rules and coverage table.
"""
