"""Attendance: arrival and departure per employee per work day, derived from the hub's scans
by rules that are data (presensi.hub.attendance.rules), kept up to date as scans arrive
(presensi.hub.attendance.days), and reported (presensi.hub.attendance.reports)."""
