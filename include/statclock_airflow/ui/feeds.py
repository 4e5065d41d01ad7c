"""See statclock_airflow.ui: the feeds routes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
