"""Each supplier reads its own settings under the same environment variable names as before; the registry
builds exactly the suppliers that are configured, from the environment or from settings given explicitly."""

from __future__ import annotations

import pytest

from esa_domain.adapters.suppliers.iak import IakSettings
from esa_domain.adapters.suppliers.lapakgaming import LapakGamingSettings
from esa_domain.adapters.suppliers.registry import SUPPLIERS, build_adapters, supplier_settings
from esa_domain.infra.settings import Settings

ENV = {
    "IAK_USERNAME": "081200000001",
    "IAK_API_KEY": "iak-key-secret",
    "IAK_PREPAID_URL": "http://iak.test/prepaid",
    "IAK_POSTPAID_URL": "http://iak.test/postpaid",
    "LAPAKGAMING_SECRET_KEY": "lapak-key-secret",
    "LAPAKGAMING_BASE_URL": "http://lapak.test",
    "BILLFAZZ_API_KEY": "bf-key",
    "BILLFAZZ_API_SECRET": "bf-secret-value",
    "BILLFAZZ_BASE_URL": "http://billfazz.test/api/v1",
    "REDISION_BASE_URL": "http://redision.test",
    "REDISION_CLIENT_ID": "esa",
    "REDISION_CLIENT_SECRET": "redision-secret-value",
    "REDISION_PARTNER_ID": "ESA",
    "PULSAIF_BASE_URL": "http://pulsaif.test",
    "PULSAIF_MEMBER_ID": "ESA001",
    "PULSAIF_PIN": "9876",
    "PULSAIF_PASSWORD": "pulsaif-password-value",
    "PULSAIF_CALLBACK_SECRET": "c" * 24,
    "SUPPLIER_READ_TIMEOUT_S": "2.5",
}
SECRETS = ("iak-key-secret", "lapak-key-secret", "bf-secret-value", "redision-secret-value", "9876")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_every_supplier_reads_its_variables_from_the_environment(monkeypatch):
    # Given the suppliers' variables in the environment, under their usual names
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    # When the registry builds the adapters from the central settings alone
    adapters = build_adapters(Settings())
    # Then all five are registered, at the addresses given
    assert list(adapters) == ["iak", "lapakgaming", "billfazz", "redision", "pulsaif"]
    assert [a.code for a in adapters.values()] == list(adapters)
    assert "http://iak.test/prepaid" in repr(adapters["iak"])
    assert "http://pulsaif.test" in repr(adapters["pulsaif"])


def test_a_supplier_without_credentials_is_not_registered():
    assert build_adapters(Settings()) == {}
    assert not any(s.configured for s in supplier_settings().values())


def test_defaults_are_the_sandbox_hosts():
    settings = supplier_settings()
    assert settings["iak"].prepaid_url == "https://prepaid.iak.dev"
    assert settings["iak"].postpaid_url == "https://testpostpaid.mobilepulsa.net"
    assert settings["lapakgaming"].base_url == "https://dev.lapakgaming.com"
    assert settings["billfazz"].base_url == "https://secure.billfazz.com/sandbox/api/v1"


def test_settings_from_an_environment_mapping_match_the_environment(monkeypatch):
    from_mapping = supplier_settings(ENV)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert from_mapping == supplier_settings()


def test_explicit_supplier_settings_register_only_the_suppliers_named(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)  # the environment would configure all five
    explicit = {"iak": IakSettings(username="0812", api_key="k", prepaid_url="http://only.test")}
    adapters = build_adapters(Settings(suppliers=explicit))
    assert list(adapters) == ["iak"]
    assert "http://only.test" in repr(adapters["iak"])


def test_supplier_settings_under_the_wrong_code_or_an_unknown_code_are_refused():
    with pytest.raises(TypeError, match="iak takes IakSettings"):
        build_adapters(Settings(suppliers={"iak": LapakGamingSettings(secret_key="k")}))
    with pytest.raises(ValueError, match="no supplier registered as acme"):
        build_adapters(Settings(suppliers={"acme": IakSettings()}))


def test_secrets_are_masked_in_every_supplier_settings_repr():
    text = repr(supplier_settings(ENV)) + str(supplier_settings(ENV))
    assert not [s for s in SECRETS if s in text]
    assert {spec.code for spec in SUPPLIERS} == set(supplier_settings(ENV))
