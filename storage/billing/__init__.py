"""OHIP billing: claims from attendance, the Ministry's claims file, its error report, exports.

The pure parts (`units`, `fees`, `claims`, `claims_file`, `error_report`, `worksheet`, `cme`,
`pdf`) take frozen snapshots and return values or bytes. The database side: `snapshots`
builds those snapshots from the tables (therapy window, claimable minutes, group size, PHI),
`exports` writes the claims file, the worksheet and the CME hours and certificates,
`ledger` follows each claim after it is sent (error reports matched by the full claim key,
corrections, resubmissions, what waits on whom) and `fee_store` keeps the fee schedules the
physician loaded. Every file is written owner-only and every export is audited.
"""
