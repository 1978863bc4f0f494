"""Where planned changes are declared beyond the logs: the tag key and a change-window file."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from egress_platform.detect.planned import (
    DEFAULT_TAG,
    ChangeWindow,
    ChangeWindowError,
    parse_windows,
)


class PlannedChangeSource(ConfigurableResource):
    """The planned-change tag key and the change-window file (a path; empty: none)."""

    tag_key: str = DEFAULT_TAG
    windows_file: str = ""

    def windows(self) -> tuple[ChangeWindow, ...]:
        if not self.windows_file:
            return ()
        path = Path(self.windows_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ChangeWindowError(
                f"cannot read the change-window file {path} (EGRESS_CHANGE_WINDOWS): "
                f"{getattr(error, 'strerror', None) or error}"
            ) from None
        return parse_windows(text, f"change-window file {path}")
