"""Tokens and passwords made by the gateway can be passed on a command line as they are."""

from __future__ import annotations

import argparse
from unittest import mock

import pytest

from gateway import participants


def test_a_new_secret_never_starts_with_a_dash_so_a_command_line_takes_it_as_a_value() -> None:
    # the generator drawing a dash-led token first: the one returned is the next draw
    draws = iter(["-leading-dash-token-value-xyz01234", "plain-token-value-xyz0123456789ab"])
    with mock.patch.object(participants.secrets, "token_urlsafe", side_effect=lambda n: next(draws)):
        secret = participants.new_secret()
    assert secret == "plain-token-value-xyz0123456789ab"
    p = argparse.ArgumentParser()
    p.add_argument("--token")
    assert p.parse_args(["--token", secret]).token == secret
    # what the old generator could return fails that way (why the rule exists)
    with pytest.raises(SystemExit) as refused:
        p.parse_args(["--token", "-leading-dash-token-value-xyz01234"])
    assert refused.value.code == 2
    assert all(not participants.new_secret().startswith("-") for _ in range(500))
