"""Recordings (质检 and disputes run on them): naming, conversion off the event loop, retention, access."""
