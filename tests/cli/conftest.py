"""Fixtures the CLI tests share: a user's model file, and a guard that no model is built."""

from __future__ import annotations

import pytest

from .test_cli_bad_input import TARGET


@pytest.fixture()
def target(tmp_path):
    path = tmp_path / "mymodel.py"
    path.write_text(TARGET)
    return path


@pytest.fixture()
def no_build(monkeypatch):
    """Building any model fails the test: the command must stop before it."""
    import roofline.targets

    def refuse(*args, **kwargs):
        pytest.fail("the model was built before the arguments were checked")

    monkeypatch.setattr(roofline.targets, "build", refuse)
    monkeypatch.setattr(roofline.targets, "build_target", refuse)
