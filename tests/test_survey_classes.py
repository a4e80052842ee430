"""A survey's data class follows what it can show (issue #22): a staff survey's questions and answers
can name colleagues, so it is personal data, not a child's; one asked of parents (or pupils, or about
a family) can name a child. Under the municipal rules on Telegram the pointer says which, on every
send of the answering handlers, the button's toast ("answer saved") included."""

from __future__ import annotations

from pathlib import Path

from aiogram.methods import AnswerCallbackQuery, SendMessage

from bot.app import build_dispatcher
from bot.channels import Channel, DataClass
from bot.config import EXAMPLE_SCHOOL_CONFIG
from bot.services.surveys import Audience
from bot.tg.callbacks import SurveyAction, SurveyCb
from bot.tg.policy import declared_class, purpose_of, varies_of
from storage.messengers import MessengerRepo
from tests.harness import IT_OFFICER, PARENT_TWO, TEACHER, handler_harness
from tests.help_helpers import linked_school

PERSONAL = "Персональные данные"
CHILD = "Сведения о ребёнке"


async def test_a_staff_survey_is_personal_and_a_parents_survey_child_data(tmp_path: Path) -> None:
    async with handler_harness(tmp_path, school_config=EXAMPLE_SCHOOL_CONFIG) as h:  # Telegram only, municipal
        await linked_school(h)
        surveys = h.app.services.surveys
        officer = await h.app.people.by_account(Channel.TELEGRAM, IT_OFFICER)
        # The same questions, two audiences: the audience decides.
        spec = surveys.templates["training_feedback"]
        staff, _, _ = await surveys.create(officer, spec, Audience("role", "staff"), 5, anonymous=False)
        parents, _, _ = await surveys.create(officer, spec, Audience("parents", "*"), 5, anonymous=False)
        assert (await surveys.survey(staff)).data_class == DataClass.PERSONAL.value  # type: ignore[union-attr]
        assert (await surveys.survey(parents)).data_class == DataClass.CHILD_PERSONAL.value  # type: ignore[union-attr]

        for who, sid, said, not_said in ((TEACHER, staff, PERSONAL, CHILD), (PARENT_TWO, parents, CHILD, PERSONAL)):
            opened = await h.press(who, SurveyCb(action=SurveyAction.OPEN, sid=sid).pack())
            pointer = [c.text for c in opened if isinstance(c, SendMessage)]
            assert len(pointer) == 1 and pointer[0].startswith("🔒"), pointer
            assert said in pointer[0] and not_said not in pointer[0]
            assert spec.questions[0].text not in pointer[0]
            chosen = await h.press(who, SurveyCb(action=SurveyAction.ANSWER, sid=sid, q=0, v=3).pack())
            toasts = [c.text or "" for c in chosen if isinstance(c, AnswerCallbackQuery)]
            assert toasts and said in toasts[0] and not_said not in toasts[0], toasts
            state = await surveys.state(await h.app.people.by_account(Channel.TELEGRAM, who), sid)  # type: ignore[arg-type]
            assert state.answers == {0: 4}  # the answer itself was recorded (the scale counts from 1)

        log = {(r.purpose, r.data_class, r.outcome) for r in await MessengerRepo(h.app.db).send_log()}
        assert ("surveys.open_survey", DataClass.PERSONAL, "pointer") in log
        assert ("surveys.open_survey", DataClass.CHILD_PERSONAL, "pointer") in log
        assert ("surveys.choose", DataClass.PERSONAL, "pointer") in log
        assert ("surveys.choose", DataClass.CHILD_PERSONAL, "pointer") in log

        # The answering handlers declare both classes (the table in docs/data-classes.md says so);
        # child data, the wider, is in force until the survey is known.
        for router in build_dispatcher(h.app).chain_tail:
            for handler in router.callback_query.handlers:
                if purpose_of(handler) in ("surveys.open_survey", "surveys.choose", "surveys_admin.texts"):
                    varies = varies_of(handler)
                    assert varies is not None and set(varies.classes) == {DataClass.PERSONAL, DataClass.CHILD_PERSONAL}
                    assert declared_class(handler) is DataClass.CHILD_PERSONAL
