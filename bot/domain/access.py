"""Every role rule in one place: which roles exist, who is staff, who may see or do what.

Handlers (through filters), menus and services ask these sets and predicates instead of spelling
role names out, so a rule changes here once."""

from __future__ import annotations

from collections.abc import Collection

# The plan's "responsible" column, in display order.
ALL_ROLES: tuple[str, ...] = (
    "director", "deputy_academic", "it_officer", "methodology_head", "site_admin",
    "class_teacher", "teacher", "parent", "student",
)
STAFF_ROLES: frozenset[str] = frozenset(
    {"director", "deputy_academic", "it_officer", "methodology_head", "site_admin", "class_teacher", "teacher"}
)
ADMIN_ROLES: frozenset[str] = frozenset({"it_officer"})  # the bot's administrator
MANAGER_ROLES: frozenset[str] = frozenset({"it_officer", "director"})  # reports, broadcasts, analysis
STATUS_VIEWERS: frozenset[str] = frozenset({"it_officer", "director", "class_teacher"})
CLASS_TEACHER_ROLES: frozenset[str] = frozenset({"class_teacher"})
ARCHIVE_ROLES: frozenset[str] = frozenset({"class_teacher", "it_officer"})
TEACHER_ROLES: frozenset[str] = frozenset({"teacher", "class_teacher"})  # invited to trainings
PARENT_ROLES: frozenset[str] = frozenset({"parent"})
ADMIN_ROLE = "it_officer"
REVIEWER_ROLES: frozenset[str] = frozenset({"director", "it_officer"})  # accept or reject a task's proof
EDITOR_ROLES: frozenset[str] = frozenset({"it_officer"})  # edit the plan's deadlines
CONSENT_ROLES: frozenset[str] = frozenset({"parent", "class_teacher", "it_officer"})  # the consent menu
STAFF_CONSENT_ROLES: frozenset[str] = frozenset({"class_teacher", "it_officer"})  # record paper consent
# Create surveys and acknowledgement campaigns, see their results (issue #26).
SURVEY_AUTHOR_ROLES: frozenset[str] = frozenset({"it_officer", "director", "deputy_academic"})


def is_staff(roles: Collection[str]) -> bool:
    return any(role in STAFF_ROLES for role in roles)


def is_admin(roles: Collection[str]) -> bool:
    return ADMIN_ROLE in roles


def holds_any(roles: Collection[str], allowed: Collection[str] | None) -> bool:
    """Whether `roles` include one of `allowed` (None: everyone)."""
    return allowed is None or any(role in allowed for role in roles)


def faq_audiences(roles: Collection[str]) -> set[str]:
    """Map roster roles to FAQ audiences; unknown roles add nothing."""
    result = {"all"}
    for role in roles:
        if role in STAFF_ROLES:
            result.add("teacher")
        elif role == "parent":
            result.add("parent")
        elif role == "student":
            result.add("pupil")
    return result
