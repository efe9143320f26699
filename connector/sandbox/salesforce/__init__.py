"""Salesforce REST emulator: SOQL subset, sObject Rows and Collections, describe, limits, sign-in.

Modules: ``soql`` (parser), ``schema`` (objects, fields, describe), ``store`` (compact rows and
write rules), ``engine`` (query execution and locators), ``saves`` (creates and updates),
``bulk`` (Bulk API 2.0 query jobs), ``login`` (SOAP and OAuth sign-in), ``routing`` (login
hosts → sandbox in a requests session), ``errors`` (REST error bodies), ``populate``
(synthetic persons → records), ``tls`` (throwaway CA), ``server`` (HTTPS handler), ``sandbox``
(the context manager).
"""

from connector.sandbox.salesforce.login import ConnectedApp
from connector.sandbox.salesforce.sandbox import SalesforceSandbox

__all__ = ["ConnectedApp", "SalesforceSandbox"]
