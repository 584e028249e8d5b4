from __future__ import annotations

from presensi.hub.console import i18n
from presensi.protocol.reasons import Reason


def test_the_phone_badges_reasons_have_readable_names() -> None:
    for lang in i18n.LANGUAGES:
        name = i18n.named(lang)
        for reason in Reason:
            if reason.value.startswith("phone_"):
                assert name("reason", reason.value) != reason.value, (lang, reason)
