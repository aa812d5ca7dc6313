"""The Zoom webhook receiver: verify, parse, journal, ack; pure parsing and verification."""
