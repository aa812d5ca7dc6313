"""The `MeetingControl` port and its implementations (simulator, Meeting SDK)."""
