"""Running mqlsync: assembling a configured pipeline and the scheduled daemon."""
