"""The pure core: canonical records, scoring, lifecycle decisions, timers and the texts a
person reads. No I/O and no CRM names: everything here is a function of its arguments."""
