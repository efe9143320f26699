"""Salesforce REST emulator (design §9): SOQL subset, sObject Collections, describe, limits.

Modules: ``soql`` (parser), ``schema`` (objects, fields, describe), ``store`` (compact rows and
write rules), ``engine`` (query execution and locators), ``populate`` (synthetic persons →
records), ``tls`` (throwaway CA), ``server`` (HTTPS handler), ``sandbox`` (the context manager).
"""

from connector.sandbox.salesforce.sandbox import SalesforceSandbox

__all__ = ["SalesforceSandbox"]
