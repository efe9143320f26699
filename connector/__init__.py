"""mqlsync: lead-scoring sync daemon for HubSpot and Salesforce."""

__version__ = "0.1.0"
