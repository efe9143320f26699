"""The run pipeline: pull → score → decide → diff → write → checkpoint, over a CRM adapter
and the state store (sync, the daily rescore, undo, settling unfinished writes, previews)."""
