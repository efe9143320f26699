"""HubSpot adapter (official `hubspot-api-client`), split like dlt's source: client, search,
activities, fields, adapter."""

from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.hubspot.client import HubSpotCalls

__all__ = ["HubSpotAdapter", "HubSpotCalls"]
