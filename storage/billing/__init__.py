"""OHIP billing: claims from attendance, the Ministry's claims file, its error report, exports.

The pure parts (`units`, `fees`, `claims`, `claims_file`, `error_report`, `worksheet`, `cme`)
take frozen snapshots and return values or bytes; the database-facing entry points
(`exports.export_claims`, `exports.export_worksheet`, `exports.export_cme`,
`exports.import_error_report`, `exports.claims_by_state`) build those snapshots from the
tables, write files owner-only and record every export in the audit log.
"""
