"""The consent ledger's hash chain lives in bot/domain/chain.py (a pure rule, #27); re-exported here
for storage (the SQLite function a migration uses, the ledger's reads) and its callers."""

from bot.domain.chain import BASE_COLUMNS as BASE_COLUMNS
from bot.domain.chain import COLUMNS as COLUMNS
from bot.domain.chain import GENESIS as GENESIS
from bot.domain.chain import OPTIONAL_COLUMNS as OPTIONAL_COLUMNS
from bot.domain.chain import SQL_FUNCTION as SQL_FUNCTION
from bot.domain.chain import ChainHead as ChainHead
from bot.domain.chain import ChainRow as ChainRow
from bot.domain.chain import Fault as Fault
from bot.domain.chain import FaultKind as FaultKind
from bot.domain.chain import Verdict as Verdict
from bot.domain.chain import row_hash as row_hash
from bot.domain.chain import sql_row_hash as sql_row_hash
from bot.domain.chain import verify as verify
