"""The operations settings: good values parsed, bad ones refused with a clear message."""

from __future__ import annotations

import ipaddress

import pytest

from webapp.access import address_allowed
from webapp.config import Settings, SettingsError


def test_defaults_log_at_info_to_standard_error_trust_no_proxy_and_allow_no_address():
    settings = Settings.from_env({})
    assert (settings.log_level, settings.access_log) == ("INFO", "-")
    assert (settings.trusted_proxies, settings.metrics_allow) == (0, ())


def test_good_values_are_parsed():
    settings = Settings.from_env(
        {
            "SHELFMARK_LOG_LEVEL": "warning",
            "SHELFMARK_ACCESS_LOG": "off",
            "SHELFMARK_TRUSTED_PROXIES": "2",
            "SHELFMARK_METRICS_ALLOW": " 10.0.0.5, 192.168.1.0/24 ,,2001:db8::/32",
        }
    )
    assert settings.log_level == "WARNING" and settings.access_log == "off"
    assert settings.trusted_proxies == 2
    assert settings.metrics_allow == (
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert address_allowed("192.168.1.77", settings.metrics_allow)
    assert address_allowed("2001:db8::1", settings.metrics_allow)
    assert not address_allowed("192.168.2.1", settings.metrics_allow)
    assert not address_allowed(None, settings.metrics_allow)
    assert not address_allowed("unknown", settings.metrics_allow)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SHELFMARK_LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("SHELFMARK_TRUSTED_PROXIES", "-1", "must be 0 or a whole number"),
        ("SHELFMARK_TRUSTED_PROXIES", "one", "must be 0 or a whole number"),
        ("SHELFMARK_METRICS_ALLOW", "10.0.0.5, prometheus.local", "'prometheus.local' is neither"),
        ("SHELFMARK_METRICS_ALLOW", "10.0.0.0/33", "'10.0.0.0/33' is neither"),
    ],
)
def test_bad_values_name_the_variable_and_what_it_takes(variable, value, message):
    with pytest.raises(SettingsError, match=variable) as refused:
        Settings.from_env({variable: value})
    assert message in str(refused.value)
