"""The README documents every setting the code reads."""

from pathlib import Path

from thumbnail_operator.settings import OperatorSettings
from uploader.settings import UploaderSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_uploader_and_operator_setting_is_in_the_readme():
    for settings in (UploaderSettings, OperatorSettings):
        for name, field in settings.model_fields.items():
            env = (field.validation_alias or name).upper()
            assert f"`{env}`" in README, env
