"""Salesforce adapter (simple-salesforce), split like the HubSpot one: `client` (every call:
rate limit, timeout, retry, classify), `pull` (Leads and Contacts with their activities as
canonical records), and the write side (`write`, `provision`)."""

from connector.crm.salesforce.client import SalesforceCalls

__all__ = ["SalesforceCalls"]
