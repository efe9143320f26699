"""HubSpot CRM v3/v4 emulator backed by synthetic data."""

from connector.sandbox.hubspot.server import HubSpotSandbox
from connector.sandbox.hubspot.store import HubSpotStore, ManualClock

__all__ = ["HubSpotSandbox", "HubSpotStore", "ManualClock"]
