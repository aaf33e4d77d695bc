"""The operator's identity (Kopf's and the logs'): never derived from the user name."""

from __future__ import annotations

import os
import pwd
import socket

import pytest
import yaml

from thumbnail_operator.settings import OperatorSettings

COMPOSE = os.path.join(os.path.dirname(__file__), "..", "..", "docker-compose.yml")


def test_pod_id_is_the_identity_when_set(monkeypatch):
    monkeypatch.setenv("POD_ID", "thumbs-operator-7d9f-abcde")
    assert OperatorSettings().identity() == "thumbs-operator-7d9f-abcde"


def test_without_pod_id_the_identity_needs_no_passwd_entry(monkeypatch):
    """A UID with no passwd entry (an image's USER 10001) makes getpass.getuser() raise KeyError."""
    monkeypatch.delenv("POD_ID", raising=False)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(KeyError):
        import getpass
        getpass.getuser()
    assert OperatorSettings().identity() == f"{socket.gethostname()}-{os.getpid()}"


def test_compose_gives_the_operator_a_pod_id():
    env = yaml.safe_load(open(COMPOSE))["services"]["operator"]["environment"]
    assert env["POD_ID"]
