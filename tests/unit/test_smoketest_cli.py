"""`python -m uploader.smoketest` refuses arguments it cannot use with a usage error, at once."""

import pytest

from uploader import smoketest


@pytest.mark.parametrize("argv,complaint", [
    (["--url", "not-a-url"], "is not an http:// or https:// URL"),
    (["--url", "127.0.0.1:8000"], "is not an http:// or https:// URL"),
    (["--timeout", "-5"], "must be above 0"),
    (["--timeout", "soon"], "is not a number"),
    (["--width", "0"], "must be above 0"),
])
def test_unusable_arguments_are_a_usage_error_not_a_wait(argv, complaint, capsys):
    with pytest.raises(SystemExit) as e:
        smoketest.main(argv)
    assert e.value.code == 2 and complaint in capsys.readouterr().err


def test_a_base_url_loses_its_trailing_slash():
    assert smoketest.base_url("http://thumbs.media.svc:80/") == "http://thumbs.media.svc:80"
