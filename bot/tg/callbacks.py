"""Every callback_data of the bot's inline buttons, in one module: one CallbackData class per kind
of button, with an Enum of its actions where a class carries several.

Prefixes are the wire format of buttons already sent: never change one. Each handler checks what a
button names against the caller's rights on the server (a forged or stale one gets a refusal)."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData


class TicketAction(enum.StrEnum):
    ANSWER = "answer"
    ASK = "ask"
    CANCEL = "cancel"
    CLOSE = "close"
    FAQ = "faq"  # review the FAQ entry a ticket would make (it is made only on FAQ_OK)
    FAQ_OK = "faq_ok"  # the officer states the reviewed text carries no personal data: publish it
    FAQ_ANSWER = "faq_ans"  # rewrite the answer's text in the review (the question: just type it)
    VIEW = "view"


class TaskAction(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    SNOOZE = "snooze"


class ProofAction(enum.StrEnum):
    ACCEPT = "accept"
    RETURN = "return"


class TaskEditAction(enum.StrEnum):
    DEADLINE = "deadline"
    KIND = "kind"
    ROLES = "roles"
    ROLE = "role"
    SAVE = "save"


class AdminActionId(enum.StrEnum):
    LINK = "link"
    NEW_YEAR = "new_year"
    ARCHIVE = "archive"
    MERGE = "merge"
    CONSENT = "consent"
    DEAD = "dead"
    DEAD_RETRY = "dead_retry"
    CODES = "codes"
    TICKETS = "tickets"
    FAQ_RELOAD = "faq_reload"
    TRAINING = "training"
    SENDS = "sends"  # the send log for an inspector (issue #17)
    SURVEYS = "surveys"  # surveys and acknowledgements (issue #26)
    ACCESS = "access"  # the access log for an inspector (issue #24)
    CANCEL = "cancel"
    YEAR_CANCEL = "year_cancel"


class MergeStep(enum.StrEnum):
    ASK = "ask"
    DO = "do"
    CANCEL = "cancel"


class AnalysisActionId(enum.StrEnum):
    EDIT = "edit"


class ArchiveViewAction(enum.StrEnum):
    OPEN = "open"
    PDF = "pdf"
    REGISTER = "register"


class ConsentAction(enum.StrEnum):
    MENU = "menu"
    READ = "read"
    FORM = "form"
    GIVE = "give"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    WYES = "wyes"
    WNO = "wno"


class DestroyAction(enum.StrEnum):
    DONE = "done"
    ACT = "act"


class StaffAction(enum.StrEnum):
    CLASSES = "classes"
    CLASS = "class"
    PAPER = "paper"
    CHILD = "child"
    DEC = "dec"
    REMIND = "remind"
    EXPORT = "export"
    ORIG = "orig"
    ORIGC = "origc"


class ClaimAction(enum.StrEnum):
    PICK = "pick"  # "I am this roster IT officer"
    NEW = "new"  # "I am not in the list"
    CONTACT = "contact"  # "find me by my phone number"


class StatusActionId(enum.StrEnum):
    ARCHIVE = "archive"
    CHART = "chart"
    LOG = "log"
    SKIP_PHOTO = "skip_photo"


class TrainingAdminAction(enum.StrEnum):
    NEW = "new"
    AUD = "aud"
    CLS = "cls"
    CREATE = "create"
    CANCEL = "cancel"
    VIEW = "view"
    MARKS = "marks"
    MARK = "mark"
    XLSX = "xlsx"
    LIST = "list"


class TrRsvp(CallbackData, prefix="trr"):
    sid: int
    yes: bool


class TicketCb(CallbackData, prefix="tk"):
    """Buttons on a ticket: answer, close, faq (make an FAQ entry), view, list."""

    action: TicketAction
    id: int = 0


class TaskAct(CallbackData, prefix="tsk"):
    action: TaskAction
    item: str
    occ: str


class TaskPage(CallbackData, prefix="tpg"):
    page: int


class ProofAct(CallbackData, prefix="tpr"):
    action: ProofAction
    proof_id: int


class TaskEdit(CallbackData, prefix="ted"):
    action: TaskEditAction
    item: str
    value: str = ""


class AdminAction(CallbackData, prefix="adm"):
    action: AdminActionId


class ImportChoice(CallbackData, prefix="imp"):
    kind: str
    apply: bool = False


class ImportConfirm(CallbackData, prefix="imc"):
    """The IT officer saw who leaves (staff, or more than a fifth of the people) and confirms it."""

    kind: str


class ImportPick(CallbackData, prefix="imq"):
    """The answer to an ambiguous pupil: the index of an existing pupil shown, or -1 for a new one."""

    kind: str
    n: int


class LinkPick(CallbackData, prefix="lnk"):
    person_id: int


class MergePick(CallbackData, prefix="mrg"):
    step: MergeStep
    duplicate: int
    into: int


class AnalysisAction(CallbackData, prefix="ana"):
    action: AnalysisActionId


class ArchiveStep(CallbackData, prefix="arc"):
    cls: str
    step: str


class ArchiveView(CallbackData, prefix="arv"):
    action: ArchiveViewAction


class BcAudience(CallbackData, prefix="bca"):
    kind: str
    value: str = ""


class BcConfirm(CallbackData, prefix="bcc"):
    ok: bool
    # The author marks the text as carrying no personal data: it goes out as a public notice.
    public: bool = False


class CodeShow(CallbackData, prefix="cds"):
    person_id: int


class CodeActivated(CallbackData, prefix="cda"):
    code_id: int


class CodeTrouble(CallbackData, prefix="cdt"):
    code_id: int


class CodePrint(CallbackData, prefix="cdp"):
    pass


class CodeAdminPick(CallbackData, prefix="cdk"):
    person_id: int


class CodeRevoke(CallbackData, prefix="cdr"):
    code_id: int


class CodeIssue(CallbackData, prefix="cdi"):
    person_id: int
    role: str


class ConsentCb(CallbackData, prefix="cns"):
    """Parent actions. `child` 0 means "all my children"; `version` must be the current one."""

    action: ConsentAction
    child: int
    version: int


class DestroyCb(CallbackData, prefix="cdx"):
    """The IT officer's destruction task (a withdrawn consent): confirm it was done, or get the act."""

    action: DestroyAction
    task: int


class StaffCb(CallbackData, prefix="cst"):
    action: StaffAction
    cls: str = ""
    child: int = 0
    decision: str = ""


class FaqView(enum.StrEnum):
    CATEGORIES = "c"
    CATEGORY = "l"  # a category's entries (page)
    ENTRY = "e"  # one entry (cat/page: where back goes; cat "~<key>": back to the saved search results)
    SEARCH = "s"  # the search results of the query saved under `cat`


class FaqNav(CallbackData, prefix="faq"):
    """Which FAQ screen to show (`FaqView`). A plain str, not the Enum: an unknown view (an old or
    forged button) shows the categories rather than the fallback's "button unavailable"."""

    v: str
    cat: str = ""
    page: int = 0
    e: str = ""


class AskQuery(CallbackData, prefix="tkq"):
    """ "None of these — ask the IT officer": `key` names the searched text in the FSM data."""

    key: str


class YearConfirm(CallbackData, prefix="nyr"):
    year: int


class LangChoice(CallbackData, prefix="lang"):
    code: str


class AdminClaim(CallbackData, prefix="adc"):
    action: ClaimAction
    person_id: int = 0


class StatusAction(CallbackData, prefix="st"):
    action: StatusActionId


class JournalDone(CallbackData, prefix="jbk"):
    year: int
    quarter: int


class TrAdm(CallbackData, prefix="tra"):
    """action: new, aud, cls, create, cancel, view, marks, mark, xlsx, list."""

    action: TrainingAdminAction
    sid: int = 0
    pid: int = 0
    page: int = 0
    arg: str = ""


class MessengerChoice(CallbackData, prefix="msgr"):
    """The person picks the messenger the bot's messages go to; checked on the server against the
    messengers they are linked on."""

    channel: str


class SurveyAction(enum.StrEnum):
    OPEN = "open"  # start or resume: the first unanswered question
    ANSWER = "a"  # option `v` of question `q` (a multiple choice: toggled)
    DONE = "done"  # a multiple choice is complete
    SKIP = "skip"  # an optional question left unanswered
    LATER = "later"  # stop now, resume later
    REVIEW = "review"  # change answers: walk from question 1


class SurveyCb(CallbackData, prefix="svy"):
    """A respondent's buttons; `w`: walking through every question to change answers."""

    action: SurveyAction
    sid: int
    q: int = 0
    v: int = 0
    w: bool = False


class SurveyAdminAction(enum.StrEnum):
    LIST = "list"
    NEW = "new"
    TEMPLATE = "tpl"  # arg: the template's name
    FILE = "file"  # send a TOML or XLSX file
    AUDIENCE = "aud"  # arg: role:<role>|staff, class, parents
    CLASS = "cls"  # arg: a class label ("*": every class)
    DAYS = "days"  # arg: working days
    ANONYMOUS = "anon"  # arg: "1" or "0"
    CREATE = "create"
    CANCEL = "cancel"
    VIEW = "view"
    CHART = "chart"
    XLSX = "xlsx"
    TEXTS = "texts"
    CLOSE = "close"


class SurveyAdm(CallbackData, prefix="sva"):
    action: SurveyAdminAction
    sid: int = 0
    arg: str = ""


class AckCb(CallbackData, prefix="ack"):
    """«Ознакомлен(а)» under a broadcast or a plan document."""

    cid: int


class AckAdminAction(enum.StrEnum):
    LIST = "list"
    VIEW = "view"
    REMIND = "remind"
    PLAN = "plan"  # the coverage as a proof for the campaign's plan item
    NEW = "new"
    ITEM = "item"  # arg: a plan item number, or "" for none
    AUDIENCE = "aud"  # arg: staff, parents, all, class, parents.<class>
    CREATE = "create"
    CANCEL = "cancel"
    FROM_BROADCAST = "bc"  # the broadcast being confirmed, sent with «Ознакомлен(а)» instead
    FROM_PROOF = "proof"  # an accepted plan document (a task's proof, `cid`: its id) sent to be read


class AckAdm(CallbackData, prefix="aka"):
    action: AckAdminAction
    cid: int = 0
    arg: str = ""


class SchoolPick(CallbackData, prefix="dsc"):
    """The district bot's school picker (bot/multibot.py): the school's key."""

    key: str
