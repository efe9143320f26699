"""Salesforce adapter (simple-salesforce), split like the HubSpot one: `client` (every call:
rate limit, timeout, retry, classify), `pull` + `activities` (Leads and Contacts with their
activities as canonical records), and the write side (`write`, `provision`)."""

from connector.crm.salesforce.client import SalesforceCalls
from connector.crm.salesforce.pull import SalesforceReader

__all__ = ["SalesforceCalls", "SalesforceReader"]
