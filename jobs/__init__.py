"""Scheduled jobs: the nightly overdue flagging and reminders run."""
