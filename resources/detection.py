"""The detector's policy a user sets: materiality thresholds, the planned-change tag key and the
change-window file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dagster import ConfigurableResource

from egress_platform.detect.anomalies import DEFAULT_CONFIG, DetectorConfig
from egress_platform.detect.planned import (
    DEFAULT_TAG,
    ChangeWindow,
    ChangeWindowError,
    parse_windows,
)


class DetectionPolicy(ConfigurableResource):
    """Materiality (an hour must cost at least ``min_extra_usd`` and this share of the account's
    expected $/h more than expected), the planned-change tag key, the change-window file."""

    min_extra_usd: float = DEFAULT_CONFIG.min_extra_usd
    min_extra_share_of_account: float = DEFAULT_CONFIG.min_extra_share_of_account
    planned_change_tag: str = DEFAULT_TAG
    change_windows: str = ""

    def detector_config(self) -> DetectorConfig:
        return replace(
            DEFAULT_CONFIG,
            min_extra_usd=self.min_extra_usd,
            min_extra_share_of_account=self.min_extra_share_of_account,
        )

    def windows(self) -> tuple[ChangeWindow, ...]:
        if not self.change_windows:
            return ()
        path = Path(self.change_windows)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ChangeWindowError(
                f"cannot read the change-window file {path} (EGRESS_CHANGE_WINDOWS): "
                f"{getattr(error, 'strerror', None) or error}"
            ) from None
        return parse_windows(text, f"change-window file {path}")
