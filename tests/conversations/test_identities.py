from __future__ import annotations

import pytest
from django.test import override_settings

from conversations.identities import InvalidIdentity, normalize


def test_it_lowercases_emails():
    assert normalize("email", "  Ana.Kovac@Example.COM ").value == "ana.kovac@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "+385 91 123 4567",
        "+385-91-123-4567",
        "whatsapp:+385911234567",
        "00385911234567",
        "tel:+385911234567",
    ],
)
def test_it_reads_one_phone_number_written_many_ways(raw):
    with override_settings(PHONE_DEFAULT_REGION="HR"):
        assert normalize("phone", raw).value == "+385911234567"


def test_it_uses_the_default_region_for_national_numbers():
    with override_settings(PHONE_DEFAULT_REGION="HR"):
        assert normalize("phone", "091 123 4567").value == "+385911234567"


def test_a_whatsapp_id_that_is_a_number_is_a_phone_identity():
    ref = normalize("whatsapp", "385911234567")
    assert (ref.kind, ref.value) == ("phone", "+385911234567")


def test_a_mexican_wa_id_drops_the_legacy_mobile_one():
    ref = normalize("whatsapp", "5215512345678")
    assert (ref.kind, ref.value) == ("phone", "+525512345678")


def test_a_whatsapp_user_id_without_number_stays_its_own_kind():
    ref = normalize("whatsapp", "US.13491208655302741918")
    assert (ref.kind, ref.value) == ("whatsapp", "US.13491208655302741918")


@pytest.mark.parametrize(
    ("kind", "value"),
    [("email", "not-an-address"), ("phone", "hello"), ("phone", "12"), ("fax", "1"), ("email", "")],
)
def test_it_refuses_nonsense(kind, value):
    with pytest.raises(InvalidIdentity):
        normalize(kind, value)
